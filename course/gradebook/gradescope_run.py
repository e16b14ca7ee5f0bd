"""Gradescope's run of one submission (``python -m course.gradebook.gradescope_run run``, from ``run_autograder``).

The archive (``course.gradebook.gradescope``) unpacks into ``/autograder/source``;
Gradescope puts the learner's files into ``/autograder/submission``. The run
recognises the course's notebooks among the uploads by their exercises
(``course.safe_run.identify``, zip archives unpacked), grades them with the same sandboxed grader
as ``course grade``, and writes ``/autograder/results/results.json``: one test
per exercise, its hint withheld where it names a hidden case's inputs before
the due date (``withhold_hidden_cases``), or no score at all, with the reason,
when the submission could not be graded for the grader's own reasons. Where
the sandbox cannot start (``course.safe_run.preflight``: a container that masks
/proc, no user namespaces), the submission is graded without it, and
results.json says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from course.gradebook.gradescope import CONFIG, DEFAULT_ROOT, ROOT_VARIABLE, Config
from course.safe_run import preflight
from course.safe_run.canonical import MAX_NOTEBOOK_BYTES
from course.safe_run.collect import Submission
from course.safe_run.verdicts import NOT_HANDED_IN, TWO_COPIES, UNKNOWN_NOTEBOOK, Row, category

LEARNER = "submission"
MAX_ZIP_MEMBERS = 50
MAX_ZIP_BYTES = 200_000_000  # all the notebooks unpacked from one archive, together


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


# ----- the hint a learner sees before the due date ---------------------------------------

def withhold_hidden_cases(hint: str, exercise_id: str, seed: int) -> tuple[str, bool]:
    """``hint`` with the inputs of hidden cases (drawn from ``seed``) left out; True when something was."""
    from course.assess.casebook import hidden_cases
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
            what = category(row.code) if row.code != NOT_HANDED_IN else "not submitted"
            output, detail = f"✘ {what}: {visible}", (row.hint if withheld else None)
        tests.append({"name": name, "number": number, "score": row.score, "max_score": row.max_score,
                      "status": "passed" if row.passed else "failed", "output": output, "visibility": "visible"})
        if detail:
            tests.append({"name": f"{name} (the hidden case it failed)", "number": f"{number}.1", "score": 0.0,
                          "max_score": 0.0, "output": f"✘ {detail}", "visibility": config.hidden_detail})
    return tests


def graded_results(rows: list[Row], config: Config, summary: str, seconds: float,
                   sandbox_problem: str | None = None) -> dict:
    """``sandbox_problem``: why the sandbox could not start, when the submission was graded without it."""
    tests = tests_for(rows, config)
    score = sum(t["score"] for t in tests)
    points = sum(t["max_score"] for t in tests)
    passed = sum(r.passed for r in rows)
    output = f"{summary}\n{passed} of {len(rows)} exercises passed: {score:g} of {points:g} points."
    if sandbox_problem:
        output += (f"\nGraded WITHOUT a sandbox: it could not start on this autograder ({sandbox_problem}). The"
                   " code ran with the grader's rights; the verdicts are the same checks.")
    elif not config.sandbox:
        output += ("\nGraded WITHOUT a sandbox (the autograder was built with --no-sandbox): the code ran with the"
                   " grader's rights.")
    gradflow = {"graded": True, "sandboxed": config.sandbox and not sandbox_problem,
                **({"sandbox_problem": sandbox_problem} if sandbox_problem else {})}
    return {"score": score, "execution_time": round(seconds), "output": output, "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests, "extra_data": {"gradflow": gradflow}}


def ungraded_results(reason: str, seconds: float) -> dict:
    """No score at all (not a zero): the grader failed, not the learner. Gradescope shows it as not graded."""
    return {"execution_time": round(seconds), "visibility": "visible", "stdout_visibility": "hidden",
            "output": (f"This submission could not be graded (infrastructure): {reason}. It is not your failure"
                       " and it has no score yet: your instructor will run the autograder again."),
            "extra_data": {"gradflow": {"graded": False, "reason": reason}}}


# ----- the run ---------------------------------------------------------------------------

def sandbox_problem() -> str | None:
    """Why the kernels' sandbox cannot start on this machine, or None when it can (started once, not assumed)."""
    started = preflight.check()
    print(f"gradflow autograder: sandbox preflight {'started Python' if started.ok else 'failed'} in"
          f" {started.seconds:.2f} s" + ("" if started.ok else f": {started.problem} ({started.said})"))
    return started.problem


def _summary(rows: list[Row], others: list[str]) -> list[str]:
    """What was graded as what, what was not submitted, and what was not graded (and why)."""
    lines, said = [], set()
    for r in rows:
        if (r.notebook, r.code) in said:
            continue
        said.add((r.notebook, r.code))
        if r.code == NOT_HANDED_IN:
            lines.append(f"Not submitted: {r.notebook}.")
        elif r.code == TWO_COPIES:
            lines.append(f"Two notebooks hold {r.notebook} ({r.handed_in}): neither was graded; submit only one.")
        elif r.code == UNKNOWN_NOTEBOOK:
            lines.append(f"Not graded (not a notebook of this assignment): {r.handed_in or r.notebook}.")
        elif r.handed_in:
            lines.append(f"Graded {r.handed_in} as {r.notebook}.")
        else:
            lines.append(f"Graded {r.notebook}.")
    if others:
        lines.append("Not notebooks, so not graded: " + ", ".join(others[:20]) + (" …" if len(others) > 20 else "")
                     + ".")
    return lines


def grade_submission(root: Path, config: Config, work: Path) -> tuple[list[Row] | None, str]:
    """The rows of the submission in ``root``/submission, and a summary; rows None when it could not be graded.

    The uploads are found by the exercises they hold, as ``course grade`` finds a class's notebooks
    (``course.safe_run.identify``, inside ``grade``): any file name works, two copies of one notebook are
    neither graded, and the assignment's notebooks not submitted score 0 (``Assignment.complete``).
    """
    from course.gradebook.assignment import Assignment
    from course.safe_run.grade import grade

    solutions = root / "source" / "solutions"
    uploads = _uploads(root / "submission", work / "unzipped")
    submissions = [Submission(LEARNER, path, shown=shown) for shown, path in uploads]
    rows = grade(submissions, solutions, seed=config.seed, cell_timeout=config.cell_timeout,
                 time_limit=config.time_limit, workers=config.workers, use_sandbox=config.sandbox, workdir=work,
                 notebooks=config.notebooks) if submissions else []
    ordered = Assignment.of(solutions, config.notebooks).complete(rows, [LEARNER])
    summary = " ".join(_summary(ordered, _other_files(root / "submission")))
    infrastructure = [r for r in ordered if r.infrastructure]
    if infrastructure:
        return None, summary + " " + "; ".join(f"{r.exercise}: {r.hint}" for r in infrastructure[:3])
    return [r for r in ordered if r.code != UNKNOWN_NOTEBOOK], summary


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
        # Where the sandbox cannot start (a container that masks /proc, no user namespaces), the submission is
        # graded without it, in Gradescope's throwaway container, and results.json says so.
        problem = sandbox_problem() if config.sandbox else None
        graded = dataclasses.replace(config, sandbox=False) if problem else config
        with tempfile.TemporaryDirectory(prefix="gradflow-gradescope-") as work:
            rows, summary = grade_submission(root, graded, Path(work))
        if rows is None:
            results, status = ungraded_results(summary, time.monotonic() - start), 3
        else:
            results, status = graded_results(rows, config, summary, time.monotonic() - start, problem), 0
    except Exception as exc:  # whatever went wrong, the learner gets no score and a reason, never a zero
        traceback.print_exc()
        results, status = ungraded_results(f"the autograder failed ({type(exc).__name__}: {exc})",
                                           time.monotonic() - start), 3
    print(results.get("output", ""))
    temporary = results_path.with_name(".results.json.part")
    temporary.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, results_path)
    return status


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        sys.exit(run())
    print("usage: python -m course.gradebook.gradescope_run run  (what run_autograder calls)", file=sys.stderr)
    sys.exit(2)
