"""The ``grade`` and ``progress`` commands: arguments in, files and tables out."""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

from course.gradebook.assignment import Assignment, AssignmentError, parse_concepts
from course.gradebook.bar import Bar
from course.gradebook.canvas import gradebook_text, incomplete
from course.gradebook.progress import learner_progress, progress_table
from course.gradebook.overrides import OverrideError, apply_overrides, read_overrides
from course.gradebook.report import write_atomically
from course.gradebook.roster import RosterError, match, read_roster
from course.gradebook.shards import (Shard, ShardError, merge, parse_shard, select, settings, shard_of,
                                     write_run)
from course.safe_run import sandbox
from course.safe_run.collect import collect, learners
from course.safe_run.grade import grade
from course.safe_run.run import GradingError
from course.safe_run.verdicts import TWO_COPIES, UNKNOWN_NOTEBOOK

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


def _overrides(args: argparse.Namespace, command: str):
    """The overrides file read (a list, empty without --overrides), or None after saying why it cannot be."""
    if getattr(args, "overrides", None) is None:
        return []
    try:
        return read_overrides(args.overrides)
    except OverrideError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None


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
    overrides = _overrides(args, "grade")
    if overrides is None:
        return CANNOT_RUN
    try:
        assignment = Assignment.of(args.solutions, parse_concepts(args.concepts))
        submissions, names = collect(args.paths), learners(args.paths)
    except (AssignmentError, FileNotFoundError) as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if not names:
        print("grade: no learners found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return CANNOT_RUN
    if shard:
        # May be none: an empty shard still writes its (empty) part.
        submissions = select(submissions, shard)
        names = [n for n in names if shard_of(n, shard.count) == shard.index]
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    bar = None if args.quiet or not submissions else Bar(len(submissions))
    start = time.monotonic()
    try:
        rows = grade(submissions, args.solutions, seed=seed, bar=bar, use_sandbox=use_sandbox,
                     partial=args.partial, notebooks=list(assignment.notebooks),
                     **_options(args)) if submissions else []
    except GradingError as exc:
        print(f"\ngrade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if bar:
        bar.close()
    rows = assignment.complete(rows, names)
    try:
        rows = apply_overrides(rows, overrides, args.overrides)
    except OverrideError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return CANNOT_RUN
    matching = match(sorted({r.learner for r in rows}), roster) if roster is not None else None
    write_run(args.out, rows, shard or Shard(),
              settings(seed, args.solutions, sandboxed=use_sandbox, cell_timeout=args.cell_timeout,
                       time_limit=args.time_limit, partial=args.partial, assignment=assignment.describe()),
              matching=matching)
    infrastructure = sum(r.infrastructure for r in rows)
    exercises = sum(r.exercise != "-" for r in rows)  # a notebook not of the course has a row, but no exercise
    print(("" if shard is None else f"shard {shard}: ")
          + f"graded {len(submissions)} notebooks of {len(names)} learners in {time.monotonic() - start:.1f} s"
          f" against an assignment of {assignment.count} exercises ({_points(assignment.points)} points):"
          f" {sum(r.passed for r in rows)} of {exercises - infrastructure} exercises passed"
          + (f"; {infrastructure} could not be graded (infrastructure): grade again" if infrastructure else "")
          + ("; WITHOUT a sandbox" if not use_sandbox else "") + f"; see {args.out / 'report.html'}")
    _print_problems(rows)
    _write_gradebook(rows, args.out, formats, roster, matching)
    return INFRASTRUCTURE if infrastructure else GRADED


def _points(value: float) -> str:
    return f"{value:g}"


def _print_problems(rows) -> None:
    """What an instructor must look at before signing: a concept handed in twice, a renamed notebook, a
    notebook not of the course, a score set by hand."""
    said = set()
    for r in rows:
        line = None
        if r.code == TWO_COPIES:
            line = f"{r.learner}: TWO COPIES of {r.notebook} ({r.handed_in}): neither graded, 0 points; ask which"
        elif r.handed_in and r.code != UNKNOWN_NOTEBOOK:
            line = f"{r.learner}: {r.handed_in} graded as {r.notebook} (renamed)"
        elif r.code == UNKNOWN_NOTEBOOK:
            line = f"{r.learner}: {r.handed_in or r.notebook} is not a notebook of the course: not graded"
        if line and line not in said:
            said.add(line)
            print(line)
    overridden = sum(bool(r.override) for r in rows)
    if overridden:
        print(f"{overridden} scores set by hand (--overrides): marked ✎ in the report")


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
    if args.shard or args.seed is not None or args.no_sandbox or args.partial or args.concepts:
        print("grade merge: takes the shards' output folders, --out, --overrides and --format/--roster only (the shards'"
              " grading options are in their rows.json)", file=sys.stderr)
        return CANNOT_RUN
    gradebook = _gradebook(args, "grade merge")
    if gradebook is None:
        return CANNOT_RUN
    formats, roster = gradebook
    overrides = _overrides(args, "grade merge")
    if overrides is None:
        return CANNOT_RUN
    folders = [Path(p) for p in args.paths[1:]]
    try:
        rows = merge(folders, args.out, lambda rows: match(sorted({r.learner for r in rows}), roster)
                     if roster is not None else None,
                     change=lambda rows: apply_overrides(rows, overrides, args.overrides))
    except (ShardError, OverrideError) as exc:
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
        sandboxed = {"use_sandbox": False} if getattr(args, "no_sandbox", False) else {}
        rows = learner_progress(args.folder, args.solutions, **_options(args), **sandboxed)
    except GradingError as exc:
        print(f"progress: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"progress: no exercise notebooks in {args.folder}", file=sys.stderr)
        return 2
    print(progress_table(rows))
    return 0
