"""The command line: ``python -m course build | new | execute | grade | gradescope | progress``.

Thin on purpose: each command parses its arguments and calls the module that
does the work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _build(args: argparse.Namespace) -> int:
    from course.authoring.build import BuildError, build, stale, write

    try:
        built = build(args.solutions, args.exercises)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    if args.check:
        problems = stale(built, args.exercises)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `python -m course build` to regenerate exercises/ and the masters' nbgrader metadata",
                  file=sys.stderr)
        return 1 if problems else 0
    changed = write(built)
    masters = [p for p in built if p.parent == args.solutions]
    print(f"built {len(built) - len(masters)} exercise notebooks in {args.exercises} and the nbgrader metadata"
          f" of {len(masters)} masters in {args.solutions} ({len(changed)} files changed)")
    return 0


def _new(args: argparse.Namespace) -> int:
    from course.authoring.scaffold import ScaffoldError, names_of, new_concept, next_steps

    try:
        written = new_concept(args.stem, args.title, args.root, execute=not args.no_execute)
    except ScaffoldError as exc:
        print(f"new failed: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"  wrote {path.relative_to(args.root)}")
    print(next_steps(names_of(args.stem, args.title)))
    return 0


def _execute(args: argparse.Namespace) -> int:
    from course.authoring.execute import execute_all

    execute_all(args.paths)
    return 0


def _grade(args: argparse.Namespace) -> int:
    from course.gradebook.cli import grade_command

    return grade_command(args)


def _gradescope(args: argparse.Namespace) -> int:
    from course.gradebook.gradescope import build_command

    return build_command(args)


def _progress(args: argparse.Namespace) -> int:
    from course.gradebook.cli import progress_command

    return progress_command(args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m course", description="Gradflow course tools.")
    commands = top.add_subparsers(dest="command", required=True)

    b = commands.add_parser("build", help="make exercises/ (and the masters' nbgrader metadata) from the solved"
                                           " masters in solutions/")
    b.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    b.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    b.add_argument("--check", action="store_true", help="only report whether exercises/ and the masters are up to date")
    b.set_defaults(run=_build)

    n = commands.add_parser("new", help="(authors) create the files of a new concept, as a draft")
    n.add_argument("stem", help="NN_name, e.g. 06_two_layer_net")
    n.add_argument("title", help='the concept\'s title, e.g. "A two-layer network"')
    n.add_argument("--root", type=Path, default=ROOT, help="the course's folder (default: this checkout)")
    n.add_argument("--no-execute", action="store_true", help="do not run the new notebooks (no outputs yet)")
    n.set_defaults(run=_new)

    e = commands.add_parser("execute", help="(authors) rerun notebooks and save their outputs")
    e.add_argument("paths", type=Path, nargs="+")
    e.set_defaults(run=_execute)

    g = commands.add_parser("grade", help="grade learners' exercise notebooks (files, learner folders or a class"
                                          " folder); `grade merge OUT...` merges the outputs of --shard runs")
    # Strings, not paths: `merge` as the first word is the merge command, while ./merge is a folder.
    g.add_argument("paths", nargs="+", metavar="PATH")
    g.add_argument("--out", type=Path, required=True, help="folder for grades.csv, report.html and feedback/")
    _grading_options(g, workers=3)  # course.safe_run.grade.DEFAULT_WORKERS (not imported here: --help stays fast)
    g.add_argument("--seed", type=int, help="hidden-case seed (default: a new random one per run)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--no-sandbox", action="store_true",
                   help="grade without bubblewrap (not safe against hostile notebooks; the report says so)")
    g.add_argument("--partial", action="store_true",
                   help="partial credit: each exercise earns its points times the share of its cases passed"
                        " (default: all or nothing)")
    g.add_argument("--format", choices=["canvas"], action="append", default=[],
                   help="also write a gradebook to import: canvas (canvas.csv, one column per concept; needs --roster)")
    g.add_argument("--roster", type=Path,
                   help="the class roster (CSV: Student and SIS Login ID / SIS User ID / ID columns, as Canvas's"
                        " gradebook export has): learners are matched to it by folder name")
    g.add_argument("--shard", metavar="K/N",
                   help="grade only shard K of N of the learners (needs --seed; merge with `grade merge`)")
    g.set_defaults(run=_grade)

    s = commands.add_parser("gradescope", help="(instructors) build the autograder archive Gradescope runs")
    s.add_argument("--out", type=Path, required=True, help="the archive to write, e.g. autograder.zip")
    s.add_argument("--notebook", action="append", metavar="NAME",
                   help="a master the assignment grades, e.g. 01_chain_rule.ipynb (repeat; default: every master)")
    _grading_options(s)
    s.add_argument("--seed", type=int, help="hidden-case seed of the assignment (default: a new random one)")
    s.add_argument("--hidden-detail", default="after_due_date", choices=("visible", "after_due_date",
                                                                         "after_published", "hidden"),
                   help="when a learner sees which hidden case failed (default: after_due_date)")
    s.add_argument("--no-sandbox", action="store_true",
                   help="grade without bubblewrap, for platforms without user namespaces (the results say so)")
    s.set_defaults(run=_gradescope)

    p = commands.add_parser("progress", help="your exercises: done or not yet, with the current hint")
    p.add_argument("folder", type=Path, nargs="?", default=Path("exercises"))
    _grading_options(p)
    p.set_defaults(run=_progress)
    return top


def _grading_options(command: argparse.ArgumentParser, workers: int = 2) -> None:
    command.add_argument("--solutions", type=Path, default=ROOT / "solutions", help="the solved masters")
    command.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per notebook cell (nbval)")
    command.add_argument("--time-limit", type=float, help="seconds per exercise check (default: each exercise's own)")
    command.add_argument("--workers", type=int, default=workers, help=f"nbval worker processes (default {workers})")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
