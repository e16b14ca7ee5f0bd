"""The Gradescope autograder: the archive, and run_autograder run as Gradescope runs it.

Each case lays out a temporary folder exactly as Gradescope lays out
/autograder (source/ = the unpacked archive, run_autograder beside it,
submission/, results/), runs run_autograder there once (a module fixture
per case) and validates results.json against a JSON Schema written from
Gradescope's specification (gradescope_results.schema.json).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from conftest import ROOT, SOLUTIONS
from grading_class import NB01, WRONG_MUL, hard_coded_visible_answers, solved, with_sources
from kernels import kernel_slots

from course.assess.registry import exercises_of
from course.cli import main
from course.gradebook import gradescope
from course.gradebook.gradescope import CONFIG, match, requirements, withhold_hidden_cases
from course.safe_run import sandbox

SEED = 31337
SCHEMA = json.loads((Path(__file__).parent / "gradescope_results.schema.json").read_text())
STRUCTURE = {k: v for k, v in SCHEMA.items() if k != "anyOf"}  # the fields, without "a score is required"
ALL01 = [e.id for e in exercises_of("01_chain_rule")]
needs_sandbox = pytest.mark.skipif(sandbox.bwrap() is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                                   reason="bubblewrap is not installed (scripts/install-sandbox.sh)")


def build(tmp: Path, *extra: str) -> Path:
    out = tmp / "autograder.zip"
    assert main(["gradescope", "--out", str(out), "--notebook", NB01, "--seed", str(SEED), "--workers", "1",
                 *extra]) == 0
    return out


def gradescope_folder(archive: Path, root: Path, files: dict[str, bytes]) -> Path:
    """/autograder as Gradescope lays it out: source/ unpacked, run_autograder copied, submission/, results/."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(archive) as z:
        z.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):  # zipfile drops the mode bits; Gradescope keeps them
        os.chmod(root / "source" / name, 0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    return root


def run_autograder(root: Path, path: str | None = None) -> tuple[int, dict, str]:
    env = {**os.environ, gradescope.ROOT_VARIABLE: str(root), gradescope.PYTHON_VARIABLE: sys.executable}
    env.pop("PYTHONPATH", None)
    if path is not None:
        env["PATH"] = path
    with open(root / "results" / "stdout", "wb") as stdout:
        status = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, stdout=stdout,
                                stderr=subprocess.STDOUT, timeout=1800).returncode
    return status, json.loads((root / "results" / "results.json").read_text()), (root / "results" / "stdout").read_text()


def notebook_bytes(nb) -> bytes:
    return nbformat.writes(nb).encode()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("build"))


def _graded(archive, tmp_path_factory, label, files):
    with kernel_slots(1):
        return run_autograder(gradescope_folder(archive, tmp_path_factory.mktemp(label) / "autograder", files))


@pytest.fixture(scope="module")
def solved_run(archive, tmp_path_factory):
    # Uploaded under another name, as learners do: recognised by its exercises.
    return _graded(archive, tmp_path_factory, "solved", {"homework 1 (final).ipynb": notebook_bytes(solved(NB01))})


@pytest.fixture(scope="module")
def wrong_run(archive, tmp_path_factory):
    # The multiply gate answers the worked examples from a table (fails a hidden case); the add gate is wrong.
    nb = with_sources(hard_coded_visible_answers(), {"01.add_gate": WRONG_MUL.replace("mul_backward", "add_backward")})
    return _graded(archive, tmp_path_factory, "wrong", {NB01: notebook_bytes(nb), "notes.txt": b"my notes"})


@pytest.fixture(scope="module")
def broken_run(archive, tmp_path_factory):
    return _graded(archive, tmp_path_factory, "broken", {NB01: b'{"cells": [ this is not JSON'})


def by_exercise(results: dict) -> dict[str, dict]:
    return {t["name"].split(":")[0]: t for t in results["tests"] if "(the hidden case" not in t["name"]}


# ----- the runs -----------------------------------------------------------------------------

@needs_sandbox
def test_a_solved_submission_scores_every_point_with_a_valid_results_json(solved_run, archive):
    status, results, stdout = solved_run
    jsonschema.validate(results, SCHEMA)
    assert status == 0
    assert list(by_exercise(results)) == ALL01
    assert results["score"] == 7.0 and all(t["score"] == t["max_score"] == 1.0 for t in results["tests"])
    assert all(t["status"] == "passed" and t["visibility"] == "visible" for t in results["tests"])
    assert "Graded homework 1 (final).ipynb as 01_chain_rule.ipynb" in results["output"]
    # It ran the course package of the archive, not the checkout's.
    assert f"course package {ROOT / 'course'}" not in stdout and "autograder/source/course" in stdout


@needs_sandbox
def test_a_wrong_submission_scores_what_passed_and_keeps_the_hidden_case_until_the_due_date(wrong_run):
    status, results, _ = wrong_run
    jsonschema.validate(results, SCHEMA)
    assert status == 0
    tests = by_exercise(results)
    assert results["score"] == 5.0 == sum(t["score"] for t in results["tests"])
    assert {k for k, t in tests.items() if t["score"] == 0} == {"01.mul_gate", "01.add_gate"}
    add = tests["01.add_gate"]
    # Failed on a worked example: the whole hint is visible now, and there is nothing to show later.
    assert add["status"] == "failed" and "Seen on the example x = 3" in add["output"]
    assert "after the due date" not in add["output"]
    assert not [t for t in results["tests"] if t["name"].startswith("01.add_gate") and "hidden case" in t["name"]]
    mul = tests["01.mul_gate"]
    assert "not a hidden case." in mul["output"] and "shown after the due date" in mul["output"]
    detail = [t for t in results["tests"] if t["name"].startswith("01.mul_gate") and "hidden case" in t["name"]]
    assert len(detail) == 1 and detail[0]["visibility"] == "after_due_date" and detail[0]["max_score"] == 0
    assert "not a hidden case: " in detail[0]["output"]  # the case itself, after the due date
    hidden_note = detail[0]["output"].split("not a hidden case: ")[1].split(". Make sure")[0]
    assert hidden_note and hidden_note not in mul["output"]
    assert "Not notebooks, so not graded: notes.txt." in results["output"]


@needs_sandbox
def test_a_broken_notebook_scores_zero_and_says_why(broken_run):
    status, results, _ = broken_run
    jsonschema.validate(results, SCHEMA)
    assert status == 0 and results["score"] == 0
    assert all(t["score"] == 0 and t["max_score"] == 1 and "could not read the notebook" in t["output"].lower()
               and "not valid JSON" in t["output"] for t in results["tests"])


def test_without_a_working_sandbox_there_is_no_score_not_a_zero(archive, tmp_path):
    # No bwrap on the PATH (only what run_autograder itself calls): the run must not grade unsandboxed.
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("bash", "mkdir", "cat"):
        os.symlink(shutil.which(tool), bin_ / tool)
    root = gradescope_folder(archive, tmp_path / "autograder", {NB01: notebook_bytes(solved(NB01))})
    status, results, _ = run_autograder(root, path=str(bin_))
    assert status == 3
    jsonschema.validate(results, STRUCTURE)
    assert "score" not in results and "tests" not in results  # nothing Gradescope could take for a zero
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(results)  # so Gradescope records no score
    assert "could not be graded (infrastructure)" in results["output"] and "bubblewrap" in results["output"]
    assert "not your failure" in results["output"]


def test_built_with_no_sandbox_it_grades_without_one_and_says_so_and_a_missing_notebook_scores_zero(tmp_path):
    archive = tmp_path / "a.zip"
    assert main(["gradescope", "--out", str(archive), "--notebook", NB01, "--notebook", "05_dropout.ipynb",
                 "--seed", "1", "--no-sandbox"]) == 0
    assert json.loads(zipfile.ZipFile(archive).read(CONFIG))["sandbox"] is False
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("bash", "mkdir", "cat"):
        os.symlink(shutil.which(tool), bin_ / tool)
    # No bwrap on the PATH, and none asked for. A broken file starts no kernel, so the run is quick.
    root = gradescope_folder(archive, tmp_path / "autograder", {"05_dropout.ipynb": b"{}"})
    status, results, _ = run_autograder(root, path=str(bin_))
    jsonschema.validate(results, SCHEMA)
    assert status == 0 and results["score"] == 0
    assert "WITHOUT a sandbox" in results["output"] and results["extra_data"]["gradflow"]["sandboxed"] is False
    tests = by_exercise(results)
    assert all(tests[e]["score"] == 0 and "not submitted" in tests[e]["output"] for e in ALL01)
    dropout = [t for t in results["tests"] if t["name"].startswith("05.")]
    assert dropout and all(t["score"] == 0 and "not a Jupyter notebook" in t["output"] for t in dropout)
    assert [t["number"] for t in results["tests"]][:2] == ["1.1", "1.2"] and dropout[0]["number"] == "2.1"
    assert "Not submitted: 01_chain_rule.ipynb" in results["output"]


# ----- the archive ----------------------------------------------------------------------------

def test_the_archive_holds_what_gradescope_runs(archive):
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        config = json.loads(z.read(CONFIG))
        listed = z.read("requirements.txt").decode().split()
    assert {"setup.sh", "run_autograder", "requirements.txt", CONFIG, f"solutions/{NB01}",
            "course/__init__.py", "course/gradebook/gradescope.py", "course/assess/concepts/__init__.py"} <= names
    assert not [n for n in names if n.startswith("solutions/") and n != f"solutions/{NB01}"]
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "exercises/", "notebooks/"))]
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert config == {"notebooks": [NB01], "seed": SEED, "sandbox": True, "hidden_detail": "after_due_date",
                      "cell_timeout": 120.0, "time_limit": None, "workers": 1}
    assert listed == requirements() and any(r.startswith("nbval==") for r in listed)
    assert any(r.startswith("pytest-xdist==") for r in listed)


def test_setup_sh_is_valid_bash_and_installs_what_the_run_needs(archive, tmp_path):
    with zipfile.ZipFile(archive) as z:
        z.extract("setup.sh", tmp_path)
        z.extract("run_autograder", tmp_path)
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
    setup = (tmp_path / "setup.sh").read_text()
    assert "set -euxo pipefail" in setup and "apt-get install" in setup
    assert "bubblewrap" in setup and "python3.11" in setup and "python3.11-venv" in setup
    assert 'pip install -r "$ROOT/source/requirements.txt"' in setup
    # run_autograder's default Python is the one setup.sh makes.
    assert 'python3.11 -m venv "$ROOT/venv"' in setup
    assert 'PYTHON="${GRADFLOW_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"' in (tmp_path / "run_autograder").read_text()


def test_the_same_course_builds_the_same_archive(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert build(a).read_bytes() == build(b).read_bytes()


def test_bad_build_options_are_refused_by_name(tmp_path, capsys):
    assert main(["gradescope", "--out", str(tmp_path / "a.zip"), "--notebook", "99_nothing.ipynb"]) == 2
    assert "no master named 99_nothing.ipynb" in capsys.readouterr().err
    assert main(["gradescope", "--out", str(tmp_path / "a.zip"), "--solutions", str(tmp_path / "none")]) == 2
    assert "no masters" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_a_random_seed_is_drawn_per_build_and_kept_in_the_archive(tmp_path):
    assert main(["gradescope", "--out", str(tmp_path / "a.zip")]) == 0
    config = json.loads(zipfile.ZipFile(tmp_path / "a.zip").read(CONFIG))
    assert isinstance(config["seed"], int) and config["notebooks"] == sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))


# ----- which file is which notebook ----------------------------------------------------------

def _assignment():
    from course.safe_run.canonical import master_exercises

    return {name: [i for i, _ in master_exercises(nbformat.read(SOLUTIONS / name, as_version=4))]
            for name in (NB01, "05_dropout.ipynb")}


def test_uploads_are_matched_by_name_then_by_their_exercises(tmp_path):
    (tmp_path / "sub" / "exercises").mkdir(parents=True)
    renamed = tmp_path / "sub" / "exercises" / "dropout copy.ipynb"
    nbformat.write(solved("05_dropout.ipynb"), renamed)
    exact = tmp_path / "sub" / NB01
    exact.write_text("{broken")
    second = tmp_path / "sub" / "old chain rule.ipynb"
    nbformat.write(solved(NB01), second)
    other = tmp_path / "sub" / "scratch.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), other)
    uploads = gradescope._uploads(tmp_path / "sub", tmp_path / "unzipped")
    chosen, ignored = match(uploads, _assignment())
    assert chosen == {NB01: (NB01, exact), "05_dropout.ipynb": ("exercises/dropout copy.ipynb", renamed)}
    assert sorted(ignored) == ["old chain rule.ipynb", "scratch.ipynb"]


def test_a_zip_of_notebooks_is_opened_and_nothing_escapes_it(tmp_path):
    (tmp_path / "sub").mkdir()
    with zipfile.ZipFile(tmp_path / "sub" / "all.zip", "w") as z:
        z.writestr("../../evil/01_chain_rule.ipynb", nbformat.writes(solved(NB01)))  # skipped, never written
        z.writestr("__MACOSX/._x.ipynb", "junk")
        z.writestr("work/05 dropout.ipynb", nbformat.writes(solved("05_dropout.ipynb")))
        z.writestr("/abs/01_chain_rule.ipynb", nbformat.writes(solved(NB01)))
    (tmp_path / "sub" / "bad.zip").write_bytes(b"not a zip")
    chosen, ignored = match(gradescope._uploads(tmp_path / "sub", tmp_path / "unzipped"), _assignment())
    assert set(chosen) == {NB01, "05_dropout.ipynb"} and not ignored
    assert chosen[NB01][0] == "all.zip:/abs/01_chain_rule.ipynb"
    assert all(tmp_path / "unzipped" in path.parents for _, path in chosen.values())
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()


def test_a_single_upload_to_a_one_notebook_assignment_is_that_notebook():
    assignment = {NB01: _assignment()[NB01]}
    chosen, ignored = match([("hw.ipynb", Path("/nonexistent/hw.ipynb"))], assignment)
    assert chosen == {NB01: ("hw.ipynb", Path("/nonexistent/hw.ipynb"))} and not ignored


def test_hidden_case_inputs_are_withheld_and_worked_examples_kept():
    from course.assess.diagnose import hidden_cases
    from course.assess.registry import get_exercise

    exercise = get_exercise("01.mul_gate")
    hidden = next(c.note for c in hidden_cases(exercise, SEED) if c.note not in {p.note for p in exercise.public})
    public = exercise.public[0].note
    hint = f"Wrong (seen on the example {public}). It passes the worked examples but not a hidden case: {hidden}."
    shown, withheld = withhold_hidden_cases(hint, "01.mul_gate", SEED)
    assert withheld and hidden not in shown and public in shown and "not a hidden case." in shown
    assert withhold_hidden_cases(f"Seen on the example {public}.", "01.mul_gate", SEED) == (
        f"Seen on the example {public}.", False)
    assert withhold_hidden_cases("anything", "not.an.exercise", SEED) == ("anything", False)


def test_a_row_the_grader_could_not_grade_leaves_the_whole_submission_without_a_score(archive, tmp_path,
                                                                                       monkeypatch):
    # A kernel that never started (tests/test_grading_infrastructure.py makes one for real): no score, a reason.
    import course.safe_run.grade as grade_module
    from course.safe_run.verdicts import Row, infrastructure_row

    def one_lost_row(submissions, *args, **kwargs):
        rows = [Row("submission", NB01, e, True, "ok", "", 1.0, 1.0) for e in ALL01]
        rows[3] = infrastructure_row("submission", NB01, ALL01[3], "the notebook's kernel did not start (4 attempts)")
        return rows

    monkeypatch.setattr(grade_module, "grade", one_lost_row)
    monkeypatch.setattr(gradescope, "sandbox_problem", lambda: None)
    root = gradescope_folder(archive, tmp_path / "autograder", {NB01: notebook_bytes(solved(NB01))})
    assert gradescope.run(root) == 3
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, STRUCTURE)
    assert "score" not in results and "tests" not in results
    assert "could not be graded (infrastructure)" in results["output"] and "did not start" in results["output"]


def test_another_assignment_s_notebook_is_not_graded_as_this_one_and_links_are_not_followed(tmp_path):
    assignment = {NB01: _assignment()[NB01]}
    nbformat.write(solved("05_dropout.ipynb"), tmp_path / "hw.ipynb")
    chosen, ignored = match([("hw.ipynb", tmp_path / "hw.ipynb")], assignment)
    assert chosen == {} and ignored == ["hw.ipynb"]
    (tmp_path / "sub").mkdir()
    nbformat.write(solved(NB01), tmp_path / "elsewhere.ipynb")
    os.symlink(tmp_path / "elsewhere.ipynb", tmp_path / "sub" / NB01)
    assert gradescope._uploads(tmp_path / "sub", tmp_path / "unzipped") == []
