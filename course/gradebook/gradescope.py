"""Gradescope: the autograder archive (``build``); what it runs for each submission is ``gradescope_run``.

``python -m course gradescope --out autograder.zip`` writes the archive
Gradescope's autograder specification asks for: ``setup.sh`` (run once, as
root, on Gradescope's Ubuntu image: Python 3.11, the course's dependencies,
bubblewrap), ``run_autograder`` (run for every submission), the course
package, the masters, and ``gradflow-autograder.json`` (which notebooks the
assignment has, the hidden-case seed, the sandbox setting). Gradescope unpacks
it into ``/autograder/source``, puts the learner's files into
``/autograder/submission`` and reads ``/autograder/results/results.json``.

A run (``course.gradebook.gradescope_run``) grades the submission with the
same sandboxed grader as ``course grade`` (the masters, the seed and this
file stay outside the sandbox), then writes one test per exercise: its score and points, and the hint as its output. A
hint that names a hidden case's inputs shows them only after the due date
(a second, 0-point test with ``after_due_date`` visibility; the visible one
says "a hidden case"): with one seed per assignment, every resubmission meets
the same hidden cases. A submission that could not be graded for the
grader's own reasons (a kernel that never started, the grader failing) gets
no score at all, not a zero: results.json says why, and Gradescope shows the
submission as not autograded, to be run again. Where the sandbox cannot start
(``course.safe_run.preflight``), the submission is graded without it, and
results.json says so.

The root folder is ``$GRADFLOW_AUTOGRADER_ROOT`` (default ``/autograder``), so
a test lays out a temporary folder exactly as Gradescope does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import stat
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from course.safe_run.collect import masters

ROOT_VARIABLE = "GRADFLOW_AUTOGRADER_ROOT"
PYTHON_VARIABLE = "GRADFLOW_AUTOGRADER_PYTHON"
DEFAULT_ROOT = Path("/autograder")
CONFIG = "gradflow-autograder.json"
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
COURSE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = COURSE_DIR.parent

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (an Ubuntu base image): Python 3.11, the course's dependencies, bubblewrap.
set -euxo pipefail
ROOT="${GRADFLOW_AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive

apt-get update
# bubblewrap: the sandbox every learner's kernel runs in.
apt-get install -y --no-install-recommends bubblewrap ca-certificates software-properties-common
# Python 3.11 (the course pins it): Ubuntu's own where it has one, else the deadsnakes archive.
if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
fi
python3.11 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install -r "$ROOT/source/requirements.txt"

# Fail the build now, not at the first submission, if something is missing.
bwrap --version
cd "$ROOT/source" && PYTHONPATH="$ROOT/source" "$ROOT/venv/bin/python" -c "import course.gradebook.gradescope_run, nbval"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission into
# /autograder/results/results.json (see course/gradebook/gradescope_run.py).
ROOT="${GRADFLOW_AUTOGRADER_ROOT:-/autograder}"
PYTHON="${GRADFLOW_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
cd "$ROOT/source" || exit 1
# The course package of this archive, whatever else the Python has installed.
PYTHONPATH="$ROOT/source" GRADFLOW_AUTOGRADER_ROOT="$ROOT" "$PYTHON" -m course.gradebook.gradescope_run run
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # Python itself could not run: still no score, and say why (not a zero).
    cat > "$ROOT/results/results.json" <<'EOF'
{"output": "This submission could not be graded (infrastructure): the autograder's Python did not run. It is not your failure and it has no score yet: your instructor will run the autograder again.", "visibility": "visible", "stdout_visibility": "hidden"}
EOF
fi
exit $status
"""


@dataclass(frozen=True)
class Config:
    notebooks: list[str]
    seed: int
    sandbox: bool = True
    hidden_detail: str = "after_due_date"
    cell_timeout: float = 120.0
    time_limit: float | None = None
    workers: int = 2

    @classmethod
    def read(cls, path: Path) -> "Config":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


# ----- building the archive --------------------------------------------------------------

def requirements(pyproject: Path = PROJECT_DIR / "pyproject.toml") -> list[str]:
    """What the run imports: the course's pinned dependencies, and pytest-xdist for nbval's workers."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    extra = [d for d in project["project"]["optional-dependencies"]["test"] if d.startswith("pytest-xdist")]
    return list(project["project"]["dependencies"]) + extra


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same archive for the same course
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build(out: Path, solutions: Path, *, notebooks: list[str] | None = None, seed: int | None = None,
          use_sandbox: bool = True, hidden_detail: str = "after_due_date", cell_timeout: float = 120.0,
          time_limit: float | None = None, workers: int = 2) -> Config:
    """Write the autograder archive ``out`` for the masters ``notebooks`` (default: every master)."""
    available = masters(solutions)
    chosen = notebooks or list(available)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        raise ValueError(f"no master named {', '.join(unknown)} in {solutions}; the masters are:"
                         f" {', '.join(available)}")
    if hidden_detail not in VISIBILITIES:
        raise ValueError(f"--hidden-detail {hidden_detail!r}: use one of {', '.join(VISIBILITIES)}")
    config = Config(chosen, secrets.randbelow(2**31) if seed is None else seed, use_sandbox, hidden_detail,
                    cell_timeout, time_limit, workers)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(archive, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(archive, "requirements.txt", ("\n".join(requirements()) + "\n").encode())
        _add(archive, CONFIG, (json.dumps(config.__dict__, indent=1) + "\n").encode())
        for path in sorted(COURSE_DIR.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                _add(archive, str(path.relative_to(PROJECT_DIR)), path.read_bytes())
        for name in chosen:
            _add(archive, f"solutions/{name}", available[name].read_bytes())
    temporary = out.with_name(f".{out.name}.part")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, out)
    return config

# ----- the command -----------------------------------------------------------------------

def build_command(args: argparse.Namespace) -> int:
    if not args.solutions.is_dir():
        print(f"gradescope: no masters: {args.solutions} is not a folder", file=sys.stderr)
        return 2
    try:
        config = build(args.out, args.solutions, notebooks=args.notebook, seed=args.seed,
                       use_sandbox=not args.no_sandbox, hidden_detail=args.hidden_detail,
                       cell_timeout=args.cell_timeout, time_limit=args.time_limit, workers=args.workers)
    except ValueError as exc:
        print(f"gradescope: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: an autograder for {', '.join(config.notebooks)}"
          + ("" if config.sandbox else ", grading WITHOUT a sandbox (--no-sandbox)")
          + ". Upload it as the assignment's autograder (Configure Autograder > Zip file upload).")
    return 0
