"""Benchmark: grade a class of learners × every exercise notebook, against one nbval run per learner.

    .venv/bin/python scripts/bench_grading.py --learners 40

Builds the class in a temporary folder (learner k solves every exercise but
one, chosen by k, which keeps its stub), then measures in the same run:

- the grader: ``course.safe_run.grade`` with the sandbox (one nbval session,
  every kernel in bubblewrap, the judge outside);
- the same class without the sandbox (``--no-sandbox``), so the sandbox's
  cost is a ratio of two runs made side by side (``--pairs N`` alternates
  N pairs, sandbox first then without, and reports the median ratio);
- with ``--cold-pairs N``, the sandbox with a fresh kernel per notebook
  (no warm fork server, ``course.safe_run.pool``) against the default, paired
  the same way: what the warm kernels save;
- the baseline: ``pytest --nbval-lax <learner>/`` once per learner, one after another;

and prints wall time and notebooks per second, the sandbox's cost, the
speed-up over the baseline, and whether the grader and the baseline agree on
every exercise (pass/fail of each check cell), each figure with the load
average beside it. ``--breakdown`` also says where the first sandboxed run's
time went (the grader's own stages, nbval's start-up, kernel starts, cells,
the judge). Not a test: it takes minutes.

When nbgrader is installed (scripts/install-nbgrader.sh), each sandboxed
grader run is followed at once by ``nbgrader autograde`` on the same class
(the released notebooks with the same answers), so the two are paired run by
run under the same load; it prints each pair's ratio, their median, and
whether nbgrader's scores agree with the grader's verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import course.safe_run.grade as grading  # noqa: E402
from course.safe_run.collect import collect  # noqa: E402
from course.safe_run.grade import grade  # noqa: E402
from course.safe_run.judge import JudgeService  # noqa: E402
from bench_cpu import CpuMeter, cpu_text, load  # noqa: E402


class Breakdown:
    """Where one grading run's time goes: the run's nbval log (each cell's setup and run) and the judge's calls."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.cells: list[dict] = []
        self.judge: list[tuple[str, float, float]] = []

    def __enter__(self):
        self._run, self._judge = grading.run, JudgeService._judge
        me = self

        def run(notebooks, workdir, settings, **options):
            me.marks["run"] = time.time()
            try:
                return me._run(notebooks, workdir, settings, **options)
            finally:
                me.marks["ran"] = time.time()
                log = Path(workdir) / "nbval-log.jsonl"
                me.cells += [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] \
                    if log.exists() else []

        def judge(service, ident, request, line):
            wall, cpu = time.monotonic(), time.thread_time()
            try:
                return me._judge(service, ident, request, line)
            finally:
                me.judge.append((ident, time.monotonic() - wall, time.thread_time() - cpu))

        grading.run, JudgeService._judge = run, judge
        self.marks["start"] = time.time()
        return self

    def __exit__(self, *exc) -> None:
        self.marks["end"] = time.time()
        grading.run, JudgeService._judge = self._run, self._judge

    def report(self, workers: int) -> str:
        m, cells = self.marks, self.cells
        first = min(c["end"] - c["call"] - c["setup"] for c in cells)
        last = max(c["end"] for c in cells)
        kernels = [c["setup"] for c in cells if c["nodeid"].endswith("::Cell 0")]
        run_cells = sum(c["call"] for c in cells)
        judge_wall = sum(w for _, w, _ in self.judge)
        judge_cpu = sum(c for *_, c in self.judge)
        slowest = sorted(self.judge, key=lambda j: -j[1])[:3]
        busy = sum(kernels) + run_cells
        lines = [
            f"  whole run                          {m['end'] - m['start']:7.1f} s",
            f"  before nbval (read, canonical)     {m['run'] - m['start']:7.1f} s",
            f"  nbval start-up to the first cell   {first - m['run']:7.1f} s",
            f"  kernel starts ({len(kernels)})                {sum(kernels):7.1f} s summed,"
            f" {sum(kernels) / max(len(kernels), 1):.2f} s each",
            f"  cells ({len(cells)})                       {run_cells:7.1f} s summed",
            f"    of which the judge's checks ({len(self.judge)})   {judge_wall:7.1f} s summed"
            f" ({judge_cpu:.1f} s of CPU in the judge); slowest: "
            + ", ".join(f"{ident} {w:.1f} s" for ident, w, _ in slowest),
            f"  after the last cell to nbval's end {m['ran'] - last:7.1f} s",
            f"  after nbval (verdicts, rows)       {m['end'] - m['ran']:7.1f} s",
            f"  kernels and cells summed / {workers} workers = {busy / workers:.1f} s of the"
            f" {last - first:.1f} s between the first cell and the last",
        ]
        return "\n".join(lines)


def gradflow(cell) -> dict:
    return cell.metadata.get("gradflow", {})


def build_class(root: Path, learners: int) -> None:
    for master_path in sorted((ROOT / "solutions").glob("*.ipynb")):
        master = nbformat.read(master_path, as_version=4)
        answers = {gradflow(c)["exercise"]: c.source for c in master.cells if "exercise" in gradflow(c)}
        ids = list(answers)
        for k in range(learners):
            # Learner k leaves one exercise unsolved (none when k is a multiple of len(ids) + 1).
            unsolved = ids[k % (len(ids) + 1) - 1] if k % (len(ids) + 1) else None
            nb = nbformat.read(ROOT / "exercises" / master_path.name, as_version=4)
            for cell in nb.cells:
                ident = gradflow(cell).get("exercise")
                if ident and ident != unsolved:
                    cell.source = answers[ident]
            (root / f"learner{k:02d}").mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / f"learner{k:02d}" / master_path.name)


def baseline(root: Path, seed: int, cell_timeout: float) -> tuple[float, dict]:
    """pytest --nbval-lax once per learner; (wall seconds, (learner, notebook, exercise) -> passed)."""
    verdicts = {}
    env = dict(os.environ, GRADFLOW_HIDDEN_SEED=str(seed))
    start = time.monotonic()
    for learner in sorted(p for p in root.iterdir() if p.is_dir()):
        junit = root / f"{learner.name}.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval-lax",
                        "--nbval-cell-timeout", str(cell_timeout), f"--junitxml={junit}", learner.name],
                       cwd=root, env=env, capture_output=True)
        cells = {}
        for case in ET.parse(junit).getroot().iter("testcase"):
            notebook = case.get("classname").split(".", 1)[1]
            cells[(notebook, int(case.get("name").removeprefix("Cell ")))] = \
                not any(child.tag in ("failure", "error", "skipped") for child in case)
        for path in sorted(learner.glob("*.ipynb")):
            code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
            for number, cell in enumerate(code):
                if "check" in gradflow(cell):
                    verdicts[(learner.name, path.name, gradflow(cell)["check"])] = cells.get((path.name, number), False)
    return time.monotonic() - start, verdicts


class NbgraderTiming:
    """``nbgrader autograde`` on the class, timed right after each sandboxed grader run (docs/grading.md)."""

    def __init__(self, root: Path, seed: int, skip: bool = False) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from nbgrader_course import NbgraderCourse, nbgrader_python

        self.python = None if skip else nbgrader_python()
        self.seed, self.ratios = seed, []
        if self.python is None:
            if not skip:
                print("nbgrader: not installed, not timed (scripts/install-nbgrader.sh)", flush=True)
            return
        self.course = NbgraderCourse(root.parent / "nbgrader", self.python)
        self.course.add_masters(sorted((ROOT / "solutions").glob("*.ipynb")))
        self.course.generate()  # not timed: an instructor releases once
        for learner in sorted(p for p in root.iterdir() if p.is_dir()):
            self.course.submitted(learner.name).mkdir(parents=True)
            for path in sorted(learner.glob("*.ipynb")):
                answers = {gradflow(c)["exercise"]: c.source for c in nbformat.read(path, as_version=4).cells
                           if "exercise" in gradflow(c)}
                nb = nbformat.read(self.course.release / path.name, as_version=4)
                for cell in nb.cells:
                    if gradflow(cell).get("exercise") in answers:
                        cell.source = answers[gradflow(cell)["exercise"]]
                nbformat.write(nb, self.course.submitted(learner.name) / path.name)

    def pair(self, grader_seconds: float, rows) -> None:
        if self.python is None:
            return
        from course.authoring.nbgrader_cells import check_grade_id

        start = time.monotonic()
        self.course.autograde(GRADFLOW_HIDDEN_SEED=str(self.seed))
        seconds = time.monotonic() - start
        scores = self.course.scores()
        differ = [r for r in rows if (scores.get((r.learner, Path(r.notebook).stem, check_grade_id(r.exercise)),
                                                 (None, None))[0] == r.points) != r.passed]
        self.ratios.append(seconds / grader_seconds)
        print(f"nbgrader: {seconds:7.1f} s wall (nbgrader autograde), grader {grader_seconds:7.1f} s:"
              f" {seconds / grader_seconds:.2f}× the grader's time ({len(differ)} of {len(rows)} verdicts differ)",
              flush=True)

    def summary(self) -> None:
        if self.ratios:
            ratios = sorted(self.ratios)
            print(f"nbgrader: the grader is {ratios[len(ratios) // 2]:.2f}× faster than nbgrader autograde"
                  f" (median of {len(ratios)} paired runs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=40)
    parser.add_argument("--workers", type=int, default=grading.DEFAULT_WORKERS)
    parser.add_argument("--cell-timeout", type=float, default=60)
    parser.add_argument("--seed", type=int, default=31337)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-nbgrader", action="store_true", help="do not time nbgrader autograde")
    parser.add_argument("--pairs", type=int, default=1, help="sandbox/no-sandbox pairs to time (0: none)")
    parser.add_argument("--cold-pairs", type=int, default=0,
                        help="pairs of the sandbox with and without warm kernels (fork servers) to time")
    parser.add_argument("--breakdown", action="store_true", help="where the first sandboxed run's time went")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradflow-bench-") as tmp:
        root = Path(tmp) / "class"
        build_class(root, args.learners)
        submissions = collect([root])
        count = len(submissions)
        print(f"class: {args.learners} learners × {count // args.learners} notebooks = {count} notebooks,"
              f" {os.cpu_count()} CPUs, {args.workers} nbval workers, {load()}", flush=True)
        nbgrader = NbgraderTiming(root, args.seed, args.skip_nbgrader)

        def timed(use_sandbox: bool, warm: bool = True):
            start, cpu = time.monotonic(), meter.seconds()
            made = grade(submissions, ROOT / "solutions", seed=args.seed, cell_timeout=args.cell_timeout,
                         workers=args.workers, use_sandbox=use_sandbox, warm_kernels=warm)
            used[use_sandbox if warm else "cold"] = None if cpu is None else meter.seconds() - cpu
            seconds = time.monotonic() - start
            if use_sandbox and warm:
                nbgrader.pair(seconds, made)
            return seconds, made

        meter, used = CpuMeter(), {}

        if args.breakdown:
            with Breakdown() as breakdown:
                grader, rows = timed(True)
        else:
            grader, rows = timed(True)
        grader_cpu = used[True]
        print(f"grader:   {grader:7.1f} s wall, {count / grader:5.2f} notebooks/s, {cpu_text(grader_cpu)}, sandboxed"
              f" ({sum(r.passed for r in rows)} of {len(rows)} exercises passed), {load()}", flush=True)
        if args.breakdown:
            print(breakdown.report(args.workers), flush=True)
        ratios, cpu_ratios = [], []
        for pair in range(args.pairs):
            with_box = grader if pair == 0 else timed(True)[0]
            box_cpu = used[True]
            without, plain_rows = timed(False)
            ratios.append(with_box / without)
            same = [(r.passed, r.code) for r in plain_rows] == [(r.passed, r.code) for r in rows]
            cpu = f"; CPU {box_cpu:.1f} s against {used[False]:.1f} s" if box_cpu is not None else ""
            if box_cpu is not None:
                cpu_ratios.append(box_cpu / used[False])
            print(f"pair {pair + 1}:   sandbox {with_box:7.1f} s, no sandbox {without:7.1f} s:"
                  f" ratio {with_box / without:.3f}{cpu} (same verdicts: {same}), {load()}", flush=True)
        cold_ratios = []
        for pair in range(args.cold_pairs):
            warm_seconds, warm_rows = timed(True)
            warm_cpu = used[True]
            cold_seconds, cold_rows = timed(True, warm=False)
            cold_ratios.append(cold_seconds / warm_seconds)
            same = [(r.passed, r.code) for r in cold_rows] == [(r.passed, r.code) for r in warm_rows]
            cpu = (f"; CPU {warm_cpu:.1f} s against {used['cold']:.1f} s ({used['cold'] / warm_cpu:.2f}×)"
                   if warm_cpu else "")
            print(f"cold pair {pair + 1}: warm kernels {warm_seconds:7.1f} s, a fresh kernel per notebook"
                  f" {cold_seconds:7.1f} s: {cold_seconds / warm_seconds:.2f}×{cpu} (same verdicts: {same}),"
                  f" {load()}", flush=True)
        nbgrader.summary()
        if cold_ratios:
            cold_ratios.sort()
            print(f"warm kernels: {cold_ratios[len(cold_ratios) // 2]:.2f}× faster than a fresh kernel per notebook"
                  f" (median of {len(cold_ratios)} pairs)", flush=True)
        if ratios:
            ratios.sort()
            print(f"sandbox cost: {100 * (ratios[len(ratios) // 2] - 1):+.1f} % of grading wall time"
                  f" (median of {len(ratios)} pairs)", flush=True)
        if cpu_ratios:  # what the load of other jobs hardly changes
            cpu_ratios.sort()
            print(f"sandbox cost: {100 * (cpu_ratios[len(cpu_ratios) // 2] - 1):+.1f} % of grading CPU time"
                  f" (median of {len(cpu_ratios)} pairs)", flush=True)
        if args.skip_baseline:
            meter.close()
            return
        cpu = meter.seconds()
        base, verdicts = baseline(root, args.seed, args.cell_timeout)
        base_cpu = None if cpu is None else meter.seconds() - cpu
        meter.close()
        print(f"baseline: {base:7.1f} s wall, {count / base:5.2f} notebooks/s, {cpu_text(base_cpu)}"
              f" (pytest --nbval-lax once per learner), {load()}")
        print(f"speed-up: {base / grader:.2f}× in wall time"
              + (f", {base_cpu / grader_cpu:.2f}× in CPU seconds" if base_cpu and grader_cpu else ""))
        ours = {(r.learner, r.notebook, r.exercise): r.passed for r in rows}
        differ = sorted(k for k in verdicts if verdicts[k] != ours.get(k))
        print(f"verdicts: {len(verdicts)} compared, {len(differ)} differ" + (f": {differ[:5]}" if differ else ""))


if __name__ == "__main__":
    main()
