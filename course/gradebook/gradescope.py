"""Gradescope: the autograder archive (``build``) and what it runs for each submission (``run``).

``python -m course gradescope --out autograder.zip`` writes the archive
Gradescope's autograder specification asks for: ``setup.sh`` (run once, as
root, on Gradescope's Ubuntu image: Python 3.11, the course's dependencies,
bubblewrap), ``run_autograder`` (run for every submission), the course
package, the masters, and ``gradflow-autograder.json`` (which notebooks the
assignment has, the hidden-case seed, the sandbox setting). Gradescope unpacks
it into ``/autograder/source``, puts the learner's files into
``/autograder/submission`` and reads ``/autograder/results/results.json``.

A run grades the submission with the same sandboxed grader as ``course grade``
(the masters, the seed and this file stay outside the sandbox), then writes
one test per exercise: its score and points, and the hint as its output. A
hint that names a hidden case's inputs shows them only after the due date
(a second, 0-point test with ``after_due_date`` visibility; the visible one
says "a hidden case"): with one seed per assignment, every resubmission meets
the same hidden cases. A submission that could not be graded for the
grader's own reasons (no working sandbox, a kernel that never started) gets
no score at all, not a zero: results.json says why, and Gradescope shows the
submission as not autograded, to be run again.

The root folder is ``$GRADFLOW_AUTOGRADER_ROOT`` (default ``/autograder``), so
a test lays out a temporary folder exactly as Gradescope does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course.assess.points import exercise_points
from course.safe_run import sandbox
from course.safe_run.canonical import MAX_NOTEBOOK_BYTES, Unreadable, master_exercises, read_submission
from course.safe_run.collect import Submission, masters
from course.safe_run.verdicts import Row, category

ROOT_VARIABLE = "GRADFLOW_AUTOGRADER_ROOT"
PYTHON_VARIABLE = "GRADFLOW_AUTOGRADER_PYTHON"
DEFAULT_ROOT = Path("/autograder")
CONFIG = "gradflow-autograder.json"
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
LEARNER = "submission"
MAX_ZIP_MEMBERS = 50
MAX_ZIP_BYTES = 200_000_000  # all the notebooks unpacked from one archive, together
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
cd "$ROOT/source" && PYTHONPATH="$ROOT/source" "$ROOT/venv/bin/python" -c "import course.gradebook.gradescope, nbval"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission into
# /autograder/results/results.json (see course/gradebook/gradescope.py).
ROOT="${GRADFLOW_AUTOGRADER_ROOT:-/autograder}"
PYTHON="${GRADFLOW_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
cd "$ROOT/source" || exit 1
# The course package of this archive, whatever else the Python has installed.
PYTHONPATH="$ROOT/source" GRADFLOW_AUTOGRADER_ROOT="$ROOT" "$PYTHON" -m course.gradebook.gradescope run
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


# ----- which uploaded file is which notebook ---------------------------------------------

def _uploads(submission: Path, unpacked: Path) -> list[tuple[str, Path]]:
    """(name as uploaded, file) of every notebook in the submission, zip archives opened."""
    found = []
    for path in sorted(submission.rglob("*")):
        # A link could point the grader (outside the sandbox) at any file of the machine: only plain files count.
        if (path.is_symlink() or not path.is_file()
                or any(p.startswith(".") or p == "__MACOSX" for p in path.relative_to(submission).parts)):
            continue
        shown = str(path.relative_to(submission))
        if path.suffix == ".ipynb":
            found.append((shown, path))
        elif path.suffix == ".zip":
            found += _unzipped(path, shown, unpacked)
    return found


def _other_files(submission: Path) -> list[str]:
    return [str(p.relative_to(submission)) for p in sorted(submission.rglob("*"))
            if p.is_file() and p.suffix not in (".ipynb", ".zip")
            and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(submission).parts)]


def _unzipped(path: Path, shown: str, unpacked: Path) -> list[tuple[str, Path]]:
    found = []
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".ipynb") and not m.is_dir()
                       and not any(p.startswith(".") or p == "__MACOSX" for p in Path(m.filename).parts)]
            budget = MAX_ZIP_BYTES
            for number, member in enumerate(members[:MAX_ZIP_MEMBERS]):
                if member.file_size > min(MAX_NOTEBOOK_BYTES, budget):
                    continue  # read_submission would refuse it anyway, or the archive is too big: never unpack it
                target = unpacked / f"{number:03d}" / Path(member.filename).name  # no path from the archive
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source:  # the size an archive declares may lie: read at most that
                    data = source.read(member.file_size + 1)
                if len(data) > member.file_size:
                    continue
                budget -= len(data)
                target.write_bytes(data)
                found.append((f"{shown}:{member.filename}", target))
    except (zipfile.BadZipFile, OSError):
        pass  # not an archive we can open: nothing in it is a notebook of the course
    return found


def _exercise_ids(path: Path) -> set[str]:
    try:
        nb = read_submission(path)
    except Unreadable:
        return set()
    ids = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("gradflow", {})
        if isinstance(meta, dict):
            ids.update(str(meta[k]) for k in ("exercise", "check") if isinstance(meta.get(k), str))
    return ids


def match(uploads: list[tuple[str, Path]], assignment: dict[str, list[str]]) -> tuple[dict[str, tuple[str, Path]],
                                                                                       list[str]]:
    """Master name -> (name as uploaded, file) graded as it, and the uploads not graded.

    A file named as a master is that master; any other is the master whose
    exercises its cells carry most (a learner may rename a notebook); a single
    upload to a one-notebook assignment is that notebook whatever it holds (a
    broken file still gets its rows). Of several candidates for one master,
    the one named as the master wins, else the one with most of its exercises.
    """
    candidates: dict[str, list[tuple[int, str, Path]]] = {name: [] for name in assignment}
    for shown, path in uploads:
        if path.name in assignment:
            candidates[path.name].append((10**6, shown, path))
            continue
        ids = _exercise_ids(path)
        overlap = {name: len(ids & set(exercises)) for name, exercises in assignment.items()}
        best = max(overlap, key=overlap.get) if overlap else None
        if best is not None and overlap[best] > 0:
            candidates[best].append((overlap[best], shown, path))
        elif not ids and len(assignment) == 1 and len(uploads) == 1:  # unreadable, or no exercise cells at all
            candidates[next(iter(assignment))].append((0, shown, path))
    chosen = {name: max(found, key=lambda c: c[0])[1:] for name, found in candidates.items() if found}
    graded = {shown for shown, _ in chosen.values()}
    return chosen, [shown for shown, _ in uploads if shown not in graded]


# ----- the hint a learner sees before the due date ---------------------------------------

def withhold_hidden_cases(hint: str, exercise_id: str, seed: int) -> tuple[str, bool]:
    """``hint`` with the inputs of hidden cases (drawn from ``seed``) left out; True when something was."""
    from course.assess.diagnose import hidden_cases
    from course.assess.registry import get_exercise

    try:
        exercise = get_exercise(exercise_id)
    except KeyError:
        return hint, False
    public = sorted({c.note for c in exercise.public if c.note}, key=len, reverse=True)
    hidden = sorted({c.note for c in hidden_cases(exercise, seed) if c.note} - set(public), key=len, reverse=True)
    text = hint
    kept = {}
    for number, note in enumerate(public):  # a worked example's inputs stay, even where a hidden note is in them
        if note in text:
            kept[f"\0{number}\0"] = note
            text = text.replace(note, f"\0{number}\0")
    if not any(note in text for note in hidden):
        return hint, False
    for note in hidden:
        for before, after in ((f"not a hidden case: {note}", "not a hidden case"),
                              (f"the example {note}", "a hidden case"), (note, "a hidden case")):
            text = text.replace(before, after)
    for mark, note in kept.items():
        text = text.replace(mark, note)
    return text + " (Which hidden case it was is shown after the due date.)", True


# ----- results.json ----------------------------------------------------------------------

def _title(exercise_id: str) -> str:
    from course.assess.registry import get_exercise

    try:
        return get_exercise(exercise_id).title
    except KeyError:
        return ""


def tests_for(rows: list[Row], config: Config) -> list[dict]:
    """One Gradescope test per exercise (and a 0-point one with its hidden case, shown after the due date)."""
    tests = []
    numbers: dict[str, int] = {}
    for row in rows:
        notebook_number = config.notebooks.index(row.notebook) + 1 if row.notebook in config.notebooks else 0
        numbers[row.notebook] = numbers.get(row.notebook, 0) + 1
        number = f"{notebook_number}.{numbers[row.notebook]}"
        title = _title(row.exercise)
        name = f"{row.exercise}: {title}" if title else row.exercise
        if row.passed:
            output, detail = "✔ Passed the worked examples and the hidden cases.", None
        else:
            visible, withheld = withhold_hidden_cases(row.hint, row.exercise, config.seed)
            what = category(row.code) if row.code != "missing" else "not submitted"
            output, detail = f"✘ {what}: {visible}", (row.hint if withheld else None)
        tests.append({"name": name, "number": number, "score": row.score, "max_score": row.max_score,
                      "status": "passed" if row.passed else "failed", "output": output, "visibility": "visible"})
        if detail:
            tests.append({"name": f"{name} (the hidden case it failed)", "number": f"{number}.1", "score": 0.0,
                          "max_score": 0.0, "output": f"✘ {detail}", "visibility": config.hidden_detail})
    return tests


def graded_results(rows: list[Row], config: Config, summary: str, seconds: float) -> dict:
    tests = tests_for(rows, config)
    score = sum(t["score"] for t in tests)
    points = sum(t["max_score"] for t in tests)
    passed = sum(r.passed for r in rows)
    output = f"{summary}\n{passed} of {len(rows)} exercises passed: {score:g} of {points:g} points."
    if not config.sandbox:
        output += ("\nGraded WITHOUT a sandbox (the autograder was built with --no-sandbox): the code ran with the"
                   " grader's rights.")
    return {"score": score, "execution_time": round(seconds), "output": output, "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"gradflow": {"graded": True, "sandboxed": config.sandbox}}}


def ungraded_results(reason: str, seconds: float) -> dict:
    """No score at all (not a zero): the grader failed, not the learner. Gradescope shows it as not graded."""
    return {"execution_time": round(seconds), "visibility": "visible", "stdout_visibility": "hidden",
            "output": (f"This submission could not be graded (infrastructure): {reason}. It is not your failure"
                       " and it has no score yet: your instructor will run the autograder again."),
            "extra_data": {"gradflow": {"graded": False, "reason": reason}}}


# ----- the run ---------------------------------------------------------------------------

def sandbox_problem() -> str | None:
    """Why bubblewrap cannot sandbox a kernel on this machine, or None when it can (tried, not assumed)."""
    bwrap = sandbox.bwrap()
    if not bwrap:
        return "bubblewrap (bwrap) is not installed, so the learner's code cannot be sandboxed"
    try:
        probe = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start a sandbox ({exc})"
    if probe.returncode != 0:
        return (f"bubblewrap cannot start a sandbox on this machine ({probe.stderr.strip()[:300] or probe.returncode}):"
                " it needs user namespaces. Build the autograder with --no-sandbox to grade without it")
    return None


def _missing_rows(name: str, master: nbformat.NotebookNode) -> list[Row]:
    points = exercise_points(master)
    return [Row(LEARNER, name, ident, False, "missing",
                f"No notebook {name} was submitted, so this exercise was not graded. Upload it (any file name"
                " works; the grader recognises the course's notebooks by their exercises).", points[ident], 0.0)
            for ident, _ in master_exercises(master)]


def grade_submission(root: Path, config: Config, work: Path) -> tuple[list[Row] | None, str]:
    """The rows of the submission in ``root``/submission, and a summary; rows None when it could not be graded."""
    from course.safe_run.grade import grade

    solutions = root / "source" / "solutions"
    master_nbs = {name: nbformat.read(solutions / name, as_version=4) for name in config.notebooks}
    assignment = {name: [ident for ident, _ in master_exercises(nb)] for name, nb in master_nbs.items()}
    chosen, ignored = match(_uploads(root / "submission", work / "unzipped"), assignment)
    staged = work / LEARNER
    staged.mkdir()
    for name, (_, path) in chosen.items():
        shutil.copyfile(path, staged / name)
    lines = [f"Graded {shown} as {name}." for name, (shown, _) in chosen.items()]
    lines += [f"Not submitted: {name}." for name in config.notebooks if name not in chosen]
    if ignored:
        lines.append("Not graded (not a notebook of this assignment, or a second copy): " + ", ".join(ignored) + ".")
    others = _other_files(root / "submission")
    if others:
        lines.append("Not notebooks, so not graded: " + ", ".join(others[:20]) + (" …" if len(others) > 20 else "")
                     + ".")
    rows: list[Row] = []
    if chosen:
        rows = grade([Submission(LEARNER, staged / name) for name in config.notebooks if name in chosen], solutions,
                     seed=config.seed, cell_timeout=config.cell_timeout, time_limit=config.time_limit,
                     workers=config.workers, use_sandbox=config.sandbox, workdir=work)
    by_notebook = {name: [r for r in rows if r.notebook == name] for name in config.notebooks}
    ordered = [row for name in config.notebooks
               for row in (by_notebook[name] if name in chosen else _missing_rows(name, master_nbs[name]))]
    infrastructure = [r for r in ordered if r.infrastructure]
    if infrastructure:
        return None, " ".join(lines) + " " + "; ".join(f"{r.exercise}: {r.hint}" for r in infrastructure[:3])
    return ordered, " ".join(lines)


def run(root: Path | None = None) -> int:
    """Grade one Gradescope submission; 0 when graded, 3 when it could not be (results.json says why)."""
    root = Path(root or os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    start = time.monotonic()
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    import course

    print(f"gradflow autograder: course package {Path(course.__file__).parent}")
    try:
        config = Config.read(root / "source" / CONFIG)
        problem = sandbox_problem() if config.sandbox else None
        if problem:
            results, status = ungraded_results(problem, time.monotonic() - start), 3
        else:
            with tempfile.TemporaryDirectory(prefix="gradflow-gradescope-") as work:
                rows, summary = grade_submission(root, config, Path(work))
            if rows is None:
                results, status = ungraded_results(summary, time.monotonic() - start), 3
            else:
                results, status = graded_results(rows, config, summary, time.monotonic() - start), 0
    except Exception as exc:  # whatever went wrong, the learner gets no score and a reason, never a zero
        traceback.print_exc()
        results, status = ungraded_results(f"the autograder failed ({type(exc).__name__}: {exc})",
                                           time.monotonic() - start), 3
    print(results.get("output", ""))
    temporary = results_path.with_name(".results.json.part")
    temporary.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, results_path)
    return status


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


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        sys.exit(run())
    print("usage: python -m course.gradebook.gradescope run  (what run_autograder calls)", file=sys.stderr)
    sys.exit(2)
