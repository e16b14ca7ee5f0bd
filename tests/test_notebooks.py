"""Notebook validation with nbval, for every concept found on disk.

- lessons and solved masters: strict nbval, so the committed outputs must be
  exactly what a rerun prints (widget cells are the only ones tagged to be
  ignored);
- the generated exercises: `pytest --nbval-lax` fails at each check cell and
  nowhere else (contract for a learner's repository CI).
"""

import xml.etree.ElementTree as ET

import pytest
from conftest import EXERCISES, LESSONS, ROOT, SOLUTIONS, code_cells, gradflow, notebooks_in, read, run_pytest

ALL_NOTEBOOKS = notebooks_in(LESSONS) + notebooks_in(SOLUTIONS) + notebooks_in(EXERCISES)
CELL_TIMEOUT = "300"


def nbval_results(junit) -> dict[tuple[str, int], bool]:
    """("folder/notebook name", code-cell number) -> passed, from nbval's junit report."""
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        notebook = case.get("classname").replace(".", "/", 1)
        number = int(case.get("name").removeprefix("Cell "))
        results[(notebook, number)] = not any(child.tag in ("failure", "error") for child in case)
    return results


def test_lessons_and_solutions_pass_strict_nbval(tmp_path):
    paths = [str(p.relative_to(ROOT)) for p in notebooks_in(LESSONS) + notebooks_in(SOLUTIONS)]
    assert paths
    junit = tmp_path / "strict.xml"
    run = run_pytest("--nbval", "--nbval-cell-timeout", CELL_TIMEOUT, "-n", "2", "--dist", "loadfile",
                     f"--junitxml={junit}", *paths)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert len(nbval_results(junit)) == sum(len(code_cells(read(ROOT / p))) for p in paths)


def test_exercises_fail_exactly_at_their_check_cells(tmp_path):
    paths = notebooks_in(EXERCISES)
    assert paths
    junit = tmp_path / "lax.xml"
    run_pytest("--nbval-lax", "--nbval-cell-timeout", CELL_TIMEOUT, f"--junitxml={junit}",
               *[str(p.relative_to(ROOT)) for p in paths])
    results = nbval_results(junit)
    for path in paths:
        cells = code_cells(read(path))
        failed = {i for i in range(len(cells)) if not results[(f"exercises/{path.name}", i)]}
        checks = {i for i, c in enumerate(cells) if gradflow(c).get("check")}
        assert checks, f"{path.name} has no check cells"
        assert failed == checks, f"{path.name}: failed cells {sorted(failed)}, check cells {sorted(checks)}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_only_widget_cells_ignore_their_output(path):
    for cell in read(path).cells:
        tags = cell.metadata.get("tags", [])
        assert "nbval-skip" not in tags
        if "nbval-ignore-output" in tags:
            assert gradflow(cell).get("widget"), f"{path.name}: only widget cells may ignore output"
        if gradflow(cell).get("widget"):
            assert "nbval-ignore-output" in tags


@pytest.mark.parametrize("path", notebooks_in(LESSONS), ids=lambda p: p.name)
def test_every_lesson_has_a_widget_worked_numbers_and_slides(path):
    nb = read(path)
    assert any(gradflow(c).get("widget") for c in nb.cells), "a lesson needs its widget"
    assert any(gradflow(c).get("worked") for c in nb.cells), "a lesson shows worked numbers"
    for cell in nb.cells:
        assert cell.metadata.get("slideshow", {}).get("slide_type") in {"slide", "subslide", "fragment", "-", "skip"}
    assert nb.cells[0].metadata["slideshow"]["slide_type"] == "slide"


def test_one_stem_per_concept_in_all_three_folders():
    stems = [{p.stem for p in notebooks_in(folder)} for folder in (LESSONS, SOLUTIONS, EXERCISES)]
    assert stems[0] == stems[1] == stems[2]
    assert "01_chain_rule" in stems[0]


def test_no_sanitize_file_hides_differences():
    # Outputs are made deterministic at the source; nothing is papered over.
    assert not list(ROOT.glob("*.cfg")) or all("regex" not in p.read_text() for p in ROOT.glob("*.cfg"))
