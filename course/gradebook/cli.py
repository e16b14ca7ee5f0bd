"""The ``grade`` and ``progress`` commands: arguments in, files and tables out."""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

from course.gradebook.bar import Bar
from course.gradebook.canvas import gradebook_text, incomplete
from course.gradebook.progress import learner_progress, progress_table
from course.gradebook.report import write_atomically
from course.gradebook.roster import RosterError, match, read_roster
from course.gradebook.shards import Shard, ShardError, merge, parse_shard, select, settings, write_run
from course.safe_run import sandbox
from course.safe_run.collect import collect
from course.safe_run.grade import grade
from course.safe_run.run import GradingError

# Exit statuses of `grade`.
GRADED, CANNOT_RUN, INFRASTRUCTURE = 0, 2, 3
MERGE = "merge"  # `grade merge OUT...`: the first word, as typed (a folder named merge is ./merge)


def _gradebook(args: argparse.Namespace, command: str) -> tuple[list[str], object] | None:
    """(formats, roster or None) asked for; None (after saying why) when they cannot be used.

    Read before grading: a roster that cannot be used stops the command before the long part.
    """
    formats = getattr(args, "format", None) or []
    roster_path = getattr(args, "roster", None)
    if "canvas" in formats and roster_path is None:
        print(f"{command}: --format canvas needs --roster ROSTER.csv (Canvas's gradebook export will do): the"
              " gradebook lists the roster's students", file=sys.stderr)
        return None
    try:
        return formats, read_roster(roster_path) if roster_path is not None else None
    except RosterError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None


def _write_gradebook(rows, out: Path, formats: list[str], roster, matching) -> None:
    if "canvas" in formats:
        write_atomically(out / "canvas.csv", gradebook_text(rows, roster, matching))
    if matching is not None:
        _print_matching(matching, rows, out if "canvas" in formats else None)


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
    gradebook = _gradebook(args, "grade")
    if gradebook is None:
        return CANNOT_RUN
    formats, roster = gradebook
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
                     partial=args.partial, **_options(args)) if submissions else []
    except GradingError as exc:
        print(f"\ngrade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if bar:
        bar.close()
    matching = match(sorted({r.learner for r in rows}), roster) if roster is not None else None
    write_run(args.out, rows, shard or Shard(),
              settings(seed, args.solutions, sandboxed=use_sandbox, cell_timeout=args.cell_timeout,
                       time_limit=args.time_limit, partial=args.partial), matching=matching)
    learners = len({r.learner for r in rows})
    infrastructure = sum(r.infrastructure for r in rows)
    graded = len(rows) - infrastructure
    print(("" if shard is None else f"shard {shard}: ")
          + f"graded {len(submissions)} notebooks of {learners} learners in {time.monotonic() - start:.1f} s:"
          f" {sum(r.passed for r in rows)} of {graded} exercises passed"
          + (f"; {infrastructure} could not be graded (infrastructure): grade again" if infrastructure else "")
          + ("; WITHOUT a sandbox" if not use_sandbox else "") + f"; see {args.out / 'report.html'}")
    _write_gradebook(rows, args.out, formats, roster, matching)
    return INFRASTRUCTURE if infrastructure else GRADED


def _print_matching(matching, rows, out) -> None:
    """Who the roster does not know, who handed in nothing, and what the gradebook leaves empty."""
    where = f" (written to {out / 'canvas.csv'})" if out else ""
    print(f"roster: {len(matching.students)} learners matched{where}; {len(matching.absent)} students on the"
          " roster handed in nothing (empty scores)")
    for learner, why in sorted(matching.unknown.items()):
        print(f"roster: NOT ON THE ROSTER, left out of the gradebook: {learner}: {why}")
    for learner, concept in incomplete(rows, matching):
        print(f"roster: {learner}'s {concept} has exercises that could not be graded: left empty, grade again")


def merge_command(args: argparse.Namespace) -> int:
    """`grade merge OUT_1 ... OUT_N --out OUT`: the shards' outputs as one unsharded run writes them."""
    if args.shard or args.seed is not None or args.no_sandbox or args.partial:
        print("grade merge: takes the shards' output folders, --out, and --format/--roster only (the shards'"
              " grading options are in their rows.json)", file=sys.stderr)
        return CANNOT_RUN
    gradebook = _gradebook(args, "grade merge")
    if gradebook is None:
        return CANNOT_RUN
    formats, roster = gradebook
    folders = [Path(p) for p in args.paths[1:]]
    try:
        rows = merge(folders, args.out, lambda rows: match(sorted({r.learner for r in rows}), roster)
                     if roster is not None else None)
    except ShardError as exc:
        print(f"grade merge: {exc}", file=sys.stderr)
        return CANNOT_RUN
    infrastructure = sum(r.infrastructure for r in rows)
    print(f"merged {len(folders)} shards: {len({r.learner for r in rows})} learners,"
          f" {sum(r.passed for r in rows)} of {len(rows) - infrastructure} exercises passed"
          + (f"; {infrastructure} could not be graded (infrastructure): grade those again" if infrastructure else "")
          + f"; see {args.out / 'report.html'}")
    matching = match(sorted({r.learner for r in rows}), roster) if roster is not None else None
    _write_gradebook(rows, args.out, formats, roster, matching)
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
