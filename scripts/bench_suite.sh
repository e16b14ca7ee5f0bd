#!/usr/bin/env bash
# Time `import course` (target < 0.3 s) and `make test` on a warm environment
# (target < 45 s without the browser tests), with the 10 slowest tests.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup >/dev/null

echo "== import course (best of 5, fresh interpreter each time)"
for _ in 1 2 3 4 5; do
    .venv/bin/python -c "import time; t = time.perf_counter(); import course; print(f'{time.perf_counter() - t:.3f}')"
done | sort -n | head -1 | sed 's/^/import course: /; s/$/ s/'
.venv/bin/python -X importtime -c "import course" 2>&1 | sort -t'|' -k2 -n | tail -3

echo "== make test (warm), 10 slowest tests"
start=$(date +%s.%N)
make test PYTEST_ARGS="-q --durations=10" | sed -n '/slowest 10/,$p'
end=$(date +%s.%N)
echo "make test wall time: $(echo "$end - $start" | bc) s"
