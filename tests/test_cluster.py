"""The engines of docs/examples, run for real: a Slurm job array and GNU parallel grade a class in shards.

ONE small class for the module (three learners of 01_chain_rule: solved,
one wrong answer, nothing solved; two of them in shard 1 of 2, one in shard
2), graded once whole with the command line, then by each example script
as an instructor runs it, from a scratch folder: docs/examples/grade-shards.slurm
on a one-node Slurm that the module starts and stops (tests/slurm_cluster.py),
and docs/examples/grade-shards-parallel.sh. Each engine's merged folder must
be the whole run's, file for file, byte for byte.

Needs root, Debian's slurm-wlm, munge and parallel (scripts/install-slurm.sh)
and bubblewrap; skipped without them, unless GRADFLOW_REQUIRE_SLURM=1 (CI),
which turns that into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import EXERCISES, ROOT
from grading_class import NB01, WRONG_MUL, solved, with_sources
from kernels import kernel_slots
from slurm_cluster import REQUIRE_VARIABLE, SlurmCluster, installed


EXAMPLES = ROOT / "docs" / "examples"
SEED = 424242
# Names whose shard of 2 is known (SHA-256 of the name, course/gradebook/shards.py's rule): the split is checked below.
CLASS = {"ana": "solved", "ben": "wrong", "fay": "unsolved"}
SHARD_OF = {"ana": 1, "ben": 1, "fay": 2}
# Seconds a whole example may take on a busy shared machine: a guard against a hang, not a time limit.
JOB_TIMEOUT = 1800


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the one-node Slurm needs root (slurmd starts jobs as their user)"
    if not installed() or shutil.which("parallel") is None:
        return "Slurm, munge or GNU parallel is not installed (scripts/install-slurm.sh)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (scripts/install-sandbox.sh)"
    return None


if _missing():
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but {_missing()}", pytrace=False)
    pytest.skip(_missing(), allow_module_level=True)


def _course(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT, stdin=subprocess.DEVNULL)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    notebooks = {"solved": solved(NB01), "wrong": with_sources(solved(NB01), {"01.mul_gate": WRONG_MUL}),
                 "unsolved": nbformat.read(EXERCISES / NB01, as_version=4)}
    for name, kind in CLASS.items():
        (root / name).mkdir()
        nbformat.write(notebooks[kind], root / name / NB01)
    return root


@pytest.fixture(scope="module")
def whole(klass, tmp_path_factory) -> Path:
    """The class graded in one run, as `course grade` on one machine."""
    out = tmp_path_factory.mktemp("whole") / "grades"
    with kernel_slots(1):
        done = _course("grade", str(klass), "--seed", str(SEED), "--workers", "1", "--quiet", "--out", str(out),
                       cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    made = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        made.start()
        yield made
    finally:
        made.stop()


def _assert_same_grades(merged: Path, whole: Path) -> None:
    shards = [json.loads((merged.parent / f"shard-{k}" / "rows.json").read_text()) for k in (1, 2)]
    assert [sorted({r["learner"] for r in part["rows"]}) for part in shards] == [
        sorted(n for n in CLASS if SHARD_OF[n] == k) for k in (1, 2)], "each shard grades its own learners"
    got, want = _files(merged), _files(whole)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
    # And the grades are real: the solved learner passes every exercise of 01, the others do not (the other
    # concepts of the assignment, every concept of the course, are not handed in).
    rows = [r for r in json.loads((whole / "rows.json").read_text())["rows"] if r["notebook"] == NB01]
    assert {r["learner"] for r in rows} == set(CLASS)
    assert all(r["passed"] for r in rows if r["learner"] == "ana")
    assert [r["exercise"] for r in rows if r["learner"] == "ben" and not r["passed"]] == ["01.mul_gate"]
    assert not any(r["passed"] for r in rows if r["learner"] == "fay")
    assert not any(r["code"] == "infrastructure" for r in rows)


def test_the_slurm_example_grades_in_an_array_and_merges_to_the_single_run(cluster, klass, whole, tmp_path):
    """docs/examples/grade-shards.slurm as the instructor starts it: submits a 2-task array and the merge."""
    logs = tmp_path / "grades-shards" / "logs"

    def said() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*"))
                         ) + "\n" + cluster.logs()

    # The node has the machine's cores and each task asks for two (the example's --cpus-per-task): here the
    # tasks run one after the other, each grading with two workers.
    with kernel_slots(2):
        submitted = cluster.run(["bash", str(EXAMPLES / "grade-shards.slurm"), str(klass)], cwd=tmp_path,
                                GRADING_SEED=str(SEED), SHARDS="2", PYTHON=sys.executable)
        jobs = re.search(r"shards \(job (\d+)\) and their merge \(job (\d+)\)", submitted.stdout)
        assert jobs, submitted.stdout
        array, merge = jobs.groups()
        assert cluster.wait_for_job(array, JOB_TIMEOUT) == "COMPLETED", said()
        assert cluster.wait_for_job(merge, JOB_TIMEOUT) == "COMPLETED", said()
    _assert_same_grades(tmp_path / "grades-shards" / "class", whole)


def test_the_gnu_parallel_example_grades_in_shards_and_merges_to_the_single_run(klass, whole, tmp_path):
    env = {**os.environ, "GRADING_SEED": str(SEED), "SHARDS": "2", "JOBS": "1", "PYTHON": sys.executable}
    with kernel_slots(2):  # one shard at a time (JOBS=1), two workers each
        done = subprocess.run(["bash", str(EXAMPLES / "grade-shards-parallel.sh"), str(klass)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_same_grades(tmp_path / "grades-shards" / "class", whole)
