#!/usr/bin/env bash
# Time `import course` (target < 0.3 s) and `make test` on a warm environment
# (target < 45 s without the browser tests), paired with an earlier design of
# the suite in the same run.
#
#   scripts/bench_suite.sh                 # this tree against BASELINE, ROUNDS pairs
#   BASELINE=<commit> ROUNDS=3 scripts/bench_suite.sh
#   BASELINE= scripts/bench_suite.sh       # this tree only
#
# The baseline is that commit's tree (git archive) run with its own test
# command, from the same .venv. Runs alternate (baseline, this tree, ...) so
# both see the same machine; each line gives wall time, CPU seconds of the
# whole process tree (kernels included) and the load average when it began.
# On a shared machine the ratio of the two, measured in the same run, is the
# figure to trust; CPU seconds / cores is the wall time an idle machine would
# need at best.
set -euo pipefail
cd "$(dirname "$0")/.."
# a275d76: the last suite that ran nbval in pytest sessions of its own (one strict, one lax).
BASELINE=${BASELINE-a275d76}
ROUNDS=${ROUNDS:-1}
make setup >/dev/null

echo "== import course (best of 5, fresh interpreter each time)"
for _ in 1 2 3 4 5; do
    .venv/bin/python -c "import time; t = time.perf_counter(); import course; print(f'{time.perf_counter() - t:.3f}')"
done | sort -n | head -1 | sed 's/^/import course: /; s/$/ s/'

# timed LABEL DIR COMMAND...: one line "LABEL wall W s, cpu C s, load L", and the pytest summary.
timed() {
    local label=$1 dir=$2
    shift 2
    .venv/bin/python - "$label" "$dir" "$@" <<'EOF'
import os, resource, subprocess, sys, time
label, folder, command = sys.argv[1], sys.argv[2], sys.argv[3:]
load = os.getloadavg()[0]
start = time.perf_counter()
run = subprocess.run(command, cwd=folder, capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
summary = [line for line in run.stdout.splitlines() if " passed" in line or " failed" in line][-1:]
print(f"{label:<9} wall {wall:6.1f} s, cpu {usage.ru_utime + usage.ru_stime:6.1f} s, load {load:4.1f}"
      f"  exit {run.returncode}  {' '.join(summary)}", flush=True)
EOF
}

old=""
if [ -n "$BASELINE" ]; then
    old=$(mktemp -d /tmp/gradflow-bench-XXXXXX)
    trap 'rm -rf "$old"' EXIT
    git archive "$BASELINE" | tar -x -C "$old"
    ln -s "$PWD/.venv" "$old/.venv"
fi

echo "== make test (warm), $ROUNDS round(s)${BASELINE:+, paired with $BASELINE}"
for _ in $(seq "$ROUNDS"); do
    if [ -n "$old" ]; then
        # The baseline's own `make test` command (its make would reinstall: its pyproject.toml is newer).
        timed baseline "$old" .venv/bin/python -m pytest -n 2 --dist loadfile -q
    fi
    timed "this tree" . make test PYTEST_ARGS=-q
done
