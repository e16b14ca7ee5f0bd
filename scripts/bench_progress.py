"""Benchmark: `course progress` after one exercise, with and without the cache of unchanged notebooks.

    .venv/bin/python scripts/bench_progress.py [--rounds 3]

A learner's folder (a copy of exercises/, every notebook) is measured in the
same run, alternating:

- today's approach: every notebook run again (``learner_progress(cache=False)``);
- the cache: one notebook changed since the last run (an exercise answered),
  so only that notebook runs again;
- the command a learner types, ``python -m course progress FOLDER``, after
  one more notebook changed: the same as the cache, plus the command's own
  start-up (Python, the grader's imports).

Prints wall seconds (and CPU seconds of the whole process tree, kernels
included, where the system lets the benchmark count them) of each and the
ratio, the load average, and whether both give the same rows. Not a test: it
runs kernels.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_cpu import CpuMeter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from course.gradebook.progress import learner_progress

    with tempfile.TemporaryDirectory(prefix="gradflow-bench-progress-") as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        folder = Path(tmp) / "learner"
        shutil.copytree(ROOT / "exercises", folder)
        notebooks = sorted(folder.glob("*.ipynb"))
        options = {"seed": 1234}
        learner_progress(folder, ROOT / "solutions", **options)  # fills the cache, as the learner's last run did
        meter = CpuMeter()

        def timed(**more):
            start, cpu = time.perf_counter(), meter.seconds()
            rows = learner_progress(folder, ROOT / "solutions", **options, **more)
            return time.perf_counter() - start, None if cpu is None else meter.seconds() - cpu, rows

        full, cached, same = [], [], True
        for number in range(args.rounds):
            changed = notebooks[number % len(notebooks)]
            changed.write_text(changed.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # "answered"
            fast_wall, fast_cpu, fast = timed()
            cached.append(fast_wall)
            slow_wall, slow_cpu, slow = timed(cache=False)
            full.append(slow_wall)
            same &= fast == slow
            cpu = f" (CPU {slow_cpu:.1f} s and {fast_cpu:.1f} s)" if fast_cpu is not None else ""
            print(f"round {number + 1}: every notebook {full[-1]:.1f} s, only {changed.name} {cached[-1]:.1f} s"
                  f"{cpu}, load {os.getloadavg()[0]:.1f}", flush=True)
        changed = notebooks[args.rounds % len(notebooks)]
        changed.write_text(changed.read_text(encoding="utf-8") + "\n", encoding="utf-8")
        start, cpu = time.perf_counter(), meter.seconds()
        subprocess.run([sys.executable, "-m", "course", "progress", str(folder)], cwd=ROOT, check=True,
                       env=dict(os.environ, GRADFLOW_HIDDEN_SEED=str(options["seed"])), capture_output=True)
        wall, cpu = time.perf_counter() - start, None if cpu is None else meter.seconds() - cpu
        print(f"`python -m course progress` after {changed.name} changed: {wall:.1f} s"
              + (f" (CPU {cpu:.1f} s)" if cpu is not None else "") + f", load {os.getloadavg()[0]:.1f}", flush=True)
        meter.close()
        print(f"{len(notebooks)} notebooks, load {os.getloadavg()[0]:.1f}: every notebook "
              f"{statistics.median(full):.1f} s, changed one only {statistics.median(cached):.1f} s "
              f"(median), {statistics.median(full) / statistics.median(cached):.1f}x; same rows: {same}")


if __name__ == "__main__":
    main()
