"""The ``grade`` and ``progress`` commands: arguments in, files and tables out."""

from __future__ import annotations

import argparse
import sys
import time

from course.grading.bar import Bar
from course.grading.collect import collect
from course.grading.grade import grade
from course.grading.progress import learner_progress, progress_table
from course.grading.report import write_all
from course.grading.session import GradingError


def _options(args: argparse.Namespace) -> dict:
    return {"cell_timeout": args.cell_timeout, "time_limit": args.time_limit, "workers": args.workers}


def grade_command(args: argparse.Namespace) -> int:
    """0 when grading ran (whatever the submissions were like); 2 when it could not run at all."""
    if not args.solutions.is_dir():
        print(f"grade: no masters: {args.solutions} is not a folder", file=sys.stderr)
        return 2
    try:
        submissions = collect(args.paths)
    except FileNotFoundError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    if not submissions:
        print("grade: no notebooks found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return 2
    bar = None if args.quiet else Bar(len(submissions))
    start = time.monotonic()
    try:
        rows = grade(submissions, args.solutions, seed=args.seed, bar=bar, **_options(args))
    except GradingError as exc:
        print(f"\ngrade: {exc}", file=sys.stderr)
        return 2
    if bar:
        bar.close()
    write_all(rows, args.out)
    learners = len({r.learner for r in rows})
    print(f"graded {len(submissions)} notebooks of {learners} learners in {time.monotonic() - start:.1f} s:"
          f" {sum(r.passed for r in rows)} of {len(rows)} exercises passed; see {args.out / 'report.html'}")
    return 0


def progress_command(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        print(f"progress: {args.folder} is not a folder", file=sys.stderr)
        return 2
    try:
        rows = learner_progress(args.folder, args.solutions, **_options(args))
    except GradingError as exc:
        print(f"progress: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"progress: no exercise notebooks in {args.folder}", file=sys.stderr)
        return 2
    print(progress_table(rows))
    return 0
