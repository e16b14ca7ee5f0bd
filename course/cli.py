"""The command line: ``python -m course build | grade | progress``.

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
            print("run `python -m course build` to regenerate exercises/", file=sys.stderr)
        return 1 if problems else 0
    changed = write(built)
    print(f"built {len(built)} exercise notebooks ({len(changed)} changed) in {args.exercises}")
    return 0


def _execute(args: argparse.Namespace) -> int:
    from course.authoring.execute import execute_all

    execute_all(args.paths)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m course", description="Gradflow course tools.")
    commands = top.add_subparsers(dest="command", required=True)

    b = commands.add_parser("build", help="make exercises/ from the solved masters in solutions/")
    b.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    b.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    b.add_argument("--check", action="store_true", help="only report whether exercises/ is up to date")
    b.set_defaults(run=_build)

    e = commands.add_parser("execute", help="(authors) rerun notebooks and save their outputs")
    e.add_argument("paths", type=Path, nargs="+")
    e.set_defaults(run=_execute)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
