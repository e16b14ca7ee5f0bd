"""Classes of any size: `grade --shard K/N`, `grade merge`, and the examples that run them on a cluster.

The merge test grades one small class three times for real (whole, shard
1/2, shard 2/2: one module fixture), merges the shards and compares every
file with the unsharded run's, byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import ROOT
from grading_class import NB01, WRONG_MUL, solved, with_sources
from kernels import kernel_slots

from course.cli import main, parser
from course.gradebook.cli import MERGE
from course.safe_run import sandbox
from course.safe_run.collect import Submission
from course.gradebook.shards import (ROWS_FILE, Shard, ShardError, parse_shard, select, shard_of, write_rows)
from course.safe_run.verdicts import Row

EXAMPLES = ROOT / "docs" / "examples"
SEED = 20260
PINNED = [3, 3, 1, 1, 4]  # shard_of(name, 4) of ana, ben, chen, dora, émile
needs_sandbox = pytest.mark.skipif(sandbox.bwrap() is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                                   reason="bubblewrap is not installed (scripts/install-sandbox.sh)")


# ----- the split --------------------------------------------------------------------------

def test_a_learner_s_shard_is_fixed_by_the_name_alone():
    # Pinned: a grader of another version, another Python or another machine splits a class the same way
    # (Python's own hash() of a string changes from run to run).
    assert [shard_of(name, 4) for name in ("ana", "ben", "chen", "dora", "émile")] == PINNED
    assert all(shard_of(name, 1) == 1 for name in ("ana", "ben"))


def test_every_learner_lands_in_exactly_one_shard_whatever_the_class():
    names = [f"learner{i:03d}" for i in range(400)]
    subs = [Submission(n, Path(f"{n}/{nb}")) for n in names for nb in (NB01, "02_staged_computation.ipynb")]
    parts = [select(subs, Shard(k, 4)) for k in range(1, 5)]
    assert sorted(s.path for part in parts for s in part) == sorted(s.path for s in subs)
    for k, part in enumerate(parts, start=1):
        assert 60 <= len({s.learner for s in part}) <= 140  # roughly even
        assert all(shard_of(s.learner, 4) == k for s in part)  # both notebooks of a learner, in one shard
    # Another class (fewer learners, another order) puts each learner in the same shard.
    other = list(reversed(subs[::3]))
    assert {s.learner: k for k in range(1, 5) for s in select(other, Shard(k, 4))} == {
        s.learner: shard_of(s.learner, 4) for s in other}


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2", ""])
def test_a_shard_that_is_not_k_of_n_is_refused_by_name(text):
    with pytest.raises(ShardError, match="--shard"):
        parse_shard(text)


def test_grade_with_a_shard_needs_a_seed(tmp_path, capsys):
    assert parse_shard("2/4") == Shard(2, 4)
    assert main(["grade", str(tmp_path), "--shard", "1/2", "--out", str(tmp_path / "out")]) == 2
    assert "--shard needs --seed" in capsys.readouterr().err
    assert main(["grade", str(tmp_path), "--shard", "3/2", "--seed", "1", "--out", str(tmp_path / "o")]) == 2
    assert "K must be from 1 to N" in capsys.readouterr().err


def test_a_shard_without_learners_writes_its_empty_part(tmp_path, capsys):
    (tmp_path / "class" / "ana").mkdir(parents=True)
    (tmp_path / "class" / "ana" / NB01).write_text("not a notebook")  # no kernel: a quick run
    empty = 2 if shard_of("ana", 2) == 1 else 1
    assert main(["grade", str(tmp_path / "class"), "--shard", f"{empty}/2", "--seed", "3", "--quiet",
                 "--out", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / ROWS_FILE).read_text())
    assert data["rows"] == [] and data["shard"] == [empty, 2]
    assert (tmp_path / "out" / "grades.csv").read_text().count("\n") == 1  # the header alone
    assert "graded 0 notebooks of 0 learners" in capsys.readouterr().out


# ----- merge refuses what does not belong together -----------------------------------------

def _part(folder: Path, shard: Shard, learners: list[str], seed: int = 7, **overrides) -> Path:
    rows = [Row(name, NB01, "01.mul_gate", True, "ok", "", 1.0, 1.0) for name in learners]
    settings = {"seed": seed, "masters": "m", "sandboxed": True, "cell_timeout": 120.0, "time_limit": None,
                **overrides}
    folder.mkdir(parents=True)
    write_rows(folder, rows, shard, settings)
    return folder


def _merge(tmp_path, *folders) -> int:
    return main(["grade", MERGE, *map(str, folders), "--out", str(tmp_path / "merged")])


def test_merge_refuses_different_seeds(tmp_path, capsys):
    a, b = _part(tmp_path / "a", Shard(1, 2), ["ana"]), _part(tmp_path / "b", Shard(2, 2), ["ben"], seed=8)
    assert _merge(tmp_path, a, b) == 2
    err = capsys.readouterr().err
    assert "different seeds (7 and 8)" in err and str(a) in err and str(b) in err
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_other_differences_of_settings(tmp_path, capsys):
    a, b = _part(tmp_path / "a", Shard(1, 2), ["ana"]), _part(tmp_path / "b", Shard(2, 2), ["ben"], masters="n")
    assert _merge(tmp_path, a, b) == 2
    assert "different masters" in capsys.readouterr().err


def test_merge_names_the_missing_shards(tmp_path, capsys):
    a = _part(tmp_path / "a", Shard(2, 4), ["ana"])
    assert _merge(tmp_path, a) == 2
    assert "shards 1/4, 3/4, 4/4 missing" in capsys.readouterr().err


def test_merge_refuses_a_shard_given_twice_and_mixed_counts(tmp_path, capsys):
    a, b = _part(tmp_path / "a", Shard(1, 2), ["ana"]), _part(tmp_path / "b", Shard(1, 2), ["ben"])
    assert _merge(tmp_path, a, b) == 2
    assert "shard 1/2 is given twice" in capsys.readouterr().err
    c = _part(tmp_path / "c", Shard(2, 3), ["chen"])
    assert _merge(tmp_path, a, c) == 2
    assert "different numbers of shards" in capsys.readouterr().err


def test_merge_refuses_a_learner_in_two_shards(tmp_path, capsys):
    a, b = _part(tmp_path / "a", Shard(1, 2), ["ana", "ben"]), _part(tmp_path / "b", Shard(2, 2), ["ben"])
    assert _merge(tmp_path, a, b) == 2
    assert "learner 'ben' is in two parts" in capsys.readouterr().err


def test_merge_says_what_a_folder_without_rows_is(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ROWS_FILE).write_text("{not json")
    assert _merge(tmp_path, tmp_path / "a") == 2
    assert f"has no {ROWS_FILE}" in capsys.readouterr().err
    assert _merge(tmp_path, tmp_path / "b") == 2
    assert "cannot be read" in capsys.readouterr().err


def test_rows_json_keeps_every_field_of_a_row(tmp_path):
    row = Row("ana", NB01, "01.add_gate", False, "sign", "The sign is wrong.", 2.0, 0.0)
    write_rows(tmp_path, [row], Shard(1, 1), {"seed": 1})
    data = json.loads((tmp_path / ROWS_FILE).read_text())
    assert data["rows"] == [dataclasses.asdict(row)] and data["shard"] == [1, 1]


# ----- a real class, graded whole and in two shards ---------------------------------------

def _learners_for_two_shards() -> dict[str, str]:
    """Four learners, each shard of two holding one graded notebook (solved, wrong) and one broken file."""
    shards: dict[int, list[str]] = {1: [], 2: []}
    for name in (f"learner-{i}" for i in range(100)):
        shards[shard_of(name, 2)].append(name)
    (solved_, broken1), (wrong, broken2) = shards[1][:2], shards[2][:2]
    return {solved_: "solved", broken1: "broken", wrong: "wrong", broken2: "broken"}


@pytest.fixture(scope="module")
def class_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    for name, kind in _learners_for_two_shards().items():
        (root / name).mkdir()
        if kind == "broken":
            (root / name / NB01).write_text("{ this is not a notebook")
        else:
            nb = solved(NB01) if kind == "solved" else with_sources(solved(NB01), {"01.mul_gate": WRONG_MUL})
            nbformat.write(nb, root / name / NB01)
    out = tmp_path_factory.mktemp("out")
    statuses = {}
    common = ["--seed", str(SEED), "--workers", "1", "--quiet"]
    for label, extra in (("whole", []), ("shard1", ["--shard", "1/2"]), ("shard2", ["--shard", "2/2"])):
        with kernel_slots(1):
            statuses[label] = main(["grade", str(root), "--out", str(out / label), *common, *extra])
    statuses["merged"] = main(["grade", MERGE, str(out / "shard2"), str(out / "shard1"), "--out", str(out / "merged")])
    return out, statuses


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@needs_sandbox
def test_merged_shards_are_byte_for_byte_the_unsharded_output(class_runs):
    out, statuses = class_runs
    assert statuses == {"whole": 0, "shard1": 0, "shard2": 0, "merged": 0}
    whole, merged = _files(out / "whole"), _files(out / "merged")
    assert sorted(whole) == ["feedback/" + f"{n}.md" for n in sorted(_learners_for_two_shards())] + [
        "grades.csv", "report.html", ROWS_FILE]
    for name in whole:
        assert merged[name] == whole[name], name
    assert merged == whole


@needs_sandbox
def test_each_shard_graded_only_its_learners_and_the_verdicts_are_real(class_runs):
    out, _ = class_runs
    kinds = _learners_for_two_shards()
    for k in (1, 2):
        rows = json.loads((out / f"shard{k}" / ROWS_FILE).read_text())
        assert rows["shard"] == [k, 2] and rows["settings"]["seed"] == SEED
        assert {r["learner"] for r in rows["rows"]} == {n for n in kinds if shard_of(n, 2) == k}
    rows = json.loads((out / "whole" / ROWS_FILE).read_text())["rows"]
    by = {(r["learner"], r["exercise"]): r for r in rows}
    for name, kind in kinds.items():
        mine = [r for r in rows if r["learner"] == name]
        assert mine and not any(r["code"] == "infrastructure" for r in mine)
        if kind == "solved":
            assert all(r["passed"] and r["score"] == r["points"] for r in mine)
        elif kind == "wrong":
            assert not by[(name, "01.mul_gate")]["passed"] and by[(name, "01.mul_gate")]["score"] == 0
            assert all(r["passed"] for r in mine if r["exercise"] != "01.mul_gate")
        else:
            assert all(not r["passed"] and r["code"] == "unreadable" for r in mine)


@needs_sandbox
def test_the_report_holds_no_time_and_no_path_of_the_run(class_runs):
    out, _ = class_runs
    for path in (out / "whole").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert str(out) not in text and "/tmp" not in text, path
            assert not re.search(r"\d+\.\d s\b|\d\d:\d\d:\d\d", text), path


# ----- the examples for a GitHub Actions matrix and a Slurm array --------------------------

SAMPLE = {"matrix.shard": "2", "secrets.GRADING_SEED": "8675309", "SLURM_ARRAY_TASK_ID": "3", "SHARDS": "8",
          "SEED": "8675309", "CLASS": "submissions/", "OUT": "grades-shards", "PYTHON": ".venv/bin/python",
          "SLURM_CPUS_PER_TASK:-2": "2"}


def _expand(text: str) -> str:
    text = re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: SAMPLE[m.group(1)], text)
    return re.sub(r"\$\{([^}]+)\}|\$([A-Za-z_]+)", lambda m: SAMPLE[m.group(1) or m.group(2)], text)


def _course_commands(script: str) -> list[list[str]]:
    """Every `-m course grade ...` the script runs, as argv after `-m course`, with its variables filled in."""
    script = script.replace("\\\n", " ")
    found = []
    for line in script.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in re.finditer(r"-m course (grade\b[^\n\"']*(?:\"[^\"]*\"[^\n\"']*)*)", line):
            found.append(shlex.split(_expand(match.group(1))))
    return found


def _check_commands(commands: list[list[str]]) -> tuple[list, list]:
    grading, merging = [], []
    for argv in commands:
        args = parser().parse_args(argv)  # argparse exits (a test error) on anything the CLI does not accept
        (merging if args.paths[0] == MERGE else grading).append(args)
    for args in grading:
        assert args.shard and args.seed is not None and args.out, args
        parse_shard(args.shard)
    for args in merging:
        assert args.paths[1:] and args.out and not args.shard
    assert grading and merging
    return grading, merging


def test_the_github_actions_example_is_a_matrix_of_real_shards_then_a_merge():
    workflow = yaml.safe_load((EXAMPLES / "grade-shards.yml").read_text())
    jobs = workflow["jobs"]
    shards = jobs["grade"]["strategy"]["matrix"]["shard"]
    assert jobs["merge"]["needs"] == "grade"
    runs = {job: "\n".join(step.get("run", "") for step in jobs[job]["steps"]) for job in jobs}
    grading, _ = _check_commands(_course_commands(runs["grade"]) + _course_commands(runs["merge"]))
    count = parse_shard(grading[0].shard).count
    assert shards == list(range(1, count + 1))  # the matrix covers every shard K of N, once
    assert "install-sandbox.sh" in runs["grade"] and "--no-sandbox" not in runs["grade"]


def test_the_slurm_example_is_valid_bash_and_runs_real_shards_then_a_merge():
    path = EXAMPLES / "grade-shards.slurm"
    subprocess.run(["bash", "-n", str(path)], check=True)
    text = path.read_text()
    grading, merging = _check_commands(_course_commands(text))
    assert grading[0].shard == "3/8" and "--array=\"1-$SHARDS\"" in text
    assert "--dependency=\"afterok:$job\"" in text and merging[0].out == Path("grades-shards/class")
