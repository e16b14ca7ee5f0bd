"""The ``grade`` and ``progress`` commands: arguments in, files and tables out."""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

from course.grading import sandbox
from course.grading.bar import Bar
from course.grading.collect import collect
from course.grading.grade import grade
from course.grading.progress import learner_progress, progress_table
from course.grading.run import GradingError
from course.grading.shards import Shard, ShardError, merge, parse_shard, select, settings, write_run

# Exit statuses of `grade`.
GRADED, CANNOT_RUN, INFRASTRUCTURE = 0, 2, 3
MERGE = "merge"  # `grade merge OUT...`: the first word, as typed (a folder named merge is ./merge)


def _options(args: argparse.Namespace) -> dict:
    return {"cell_timeout": args.cell_timeout, "time_limit": args.time_limit, "workers": args.workers}


def grade_command(args: argparse.Namespace) -> int:
    """0: graded; 2: could not run at all; 3: graded, but some rows could not be graded (infrastructure)."""
    if args.paths[0] == MERGE:
        return merge_command(args)
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ShardError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if shard and args.seed is None:
        print("grade: --shard needs --seed: every shard of a class must draw the same hidden cases, so give"
              " each the same seed (e.g. --seed 8675309)", file=sys.stderr)
        return CANNOT_RUN
    use_sandbox = not args.no_sandbox
    if use_sandbox and not sandbox.bwrap():
        print("grade: bubblewrap (bwrap) is not installed, so learner code cannot be sandboxed. Install it"
              " (scripts/install-sandbox.sh), or grade with --no-sandbox (the report will say so).",
              file=sys.stderr)
        return CANNOT_RUN
    if not args.solutions.is_dir():
        print(f"grade: no masters: {args.solutions} is not a folder", file=sys.stderr)
        return CANNOT_RUN
    try:
        submissions = collect(args.paths)
    except FileNotFoundError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if not submissions:
        print("grade: no notebooks found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return CANNOT_RUN
    if shard:
        submissions = select(submissions, shard)  # may be none: an empty shard still writes its (empty) part
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    bar = None if args.quiet or not submissions else Bar(len(submissions))
    start = time.monotonic()
    try:
        rows = grade(submissions, args.solutions, seed=seed, bar=bar, use_sandbox=use_sandbox,
                     **_options(args)) if submissions else []
    except GradingError as exc:
        print(f"\ngrade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if bar:
        bar.close()
    write_run(args.out, rows, shard or Shard(), settings(seed, args.solutions, sandboxed=use_sandbox,
                                                         cell_timeout=args.cell_timeout, time_limit=args.time_limit))
    learners = len({r.learner for r in rows})
    infrastructure = sum(r.infrastructure for r in rows)
    graded = len(rows) - infrastructure
    print(("" if shard is None else f"shard {shard}: ")
          + f"graded {len(submissions)} notebooks of {learners} learners in {time.monotonic() - start:.1f} s:"
          f" {sum(r.passed for r in rows)} of {graded} exercises passed"
          + (f"; {infrastructure} could not be graded (infrastructure): grade again" if infrastructure else "")
          + ("; WITHOUT a sandbox" if not use_sandbox else "") + f"; see {args.out / 'report.html'}")
    return INFRASTRUCTURE if infrastructure else GRADED


def merge_command(args: argparse.Namespace) -> int:
    """`grade merge OUT_1 ... OUT_N --out OUT`: the shards' outputs as one unsharded run writes them."""
    if args.shard or args.seed is not None or args.no_sandbox:
        print("grade merge: takes the shards' output folders and --out only (the shards' options are in their"
              " rows.json)", file=sys.stderr)
        return CANNOT_RUN
    folders = [Path(p) for p in args.paths[1:]]
    try:
        rows = merge(folders, args.out)
    except ShardError as exc:
        print(f"grade merge: {exc}", file=sys.stderr)
        return CANNOT_RUN
    infrastructure = sum(r.infrastructure for r in rows)
    print(f"merged {len(folders)} shards: {len({r.learner for r in rows})} learners,"
          f" {sum(r.passed for r in rows)} of {len(rows) - infrastructure} exercises passed"
          + (f"; {infrastructure} could not be graded (infrastructure): grade those again" if infrastructure else "")
          + f"; see {args.out / 'report.html'}")
    return INFRASTRUCTURE if infrastructure else GRADED


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
