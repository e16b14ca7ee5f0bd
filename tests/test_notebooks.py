"""Notebook validation with nbval, for every concept found on disk.

This module also collects every notebook itself (see notebook_items.py):
each code cell of notebooks/, solutions/ and exercises/ is a test of this
run, executed once per run.

- lessons and solved masters: strict nbval, so the committed outputs must be
  exactly what a rerun prints (widget cells are the only ones tagged to be
  ignored);
- the generated exercises: nbval-lax, failing at each check cell and nowhere
  else (contract for a learner's repository CI).

The tests below check the notebooks' tags, and that the collection really
holds every cell of every notebook with the right verdict expected.
"""

import pytest
from conftest import EXERCISES, LESSONS, ROOT, SOLUTIONS, code_cells, gradflow, notebooks_in, read
from notebook_items import NARROW, UNSOLVED, course_notebooks, narrowed_environment, notebook_collectors, widest_simd

ALL_NOTEBOOKS = notebooks_in(LESSONS) + notebooks_in(SOLUTIONS) + notebooks_in(EXERCISES)


def test_every_cell_of_every_notebook_is_a_test_of_this_run(request):
    module = request.node.getparent(pytest.Module)
    collectors = notebook_collectors(module)
    plain = [n for n in collectors if not n.narrow]
    assert sorted(p for p, _ in course_notebooks()) == sorted(n.path for n in plain)
    # every lesson and master once more, strict, with numpy's SIMD narrowed and one BLAS thread
    narrowed = [n for n in collectors if n.narrow]
    assert sorted(n.path for n in narrowed) == sorted(p for p, lax in course_notebooks() if not lax)
    assert all(n.nodeid.endswith(f".ipynb[{NARROW}]") and not n.lax for n in narrowed)
    assert {p.parent for p, _ in course_notebooks()} == {LESSONS, SOLUTIONS, EXERCISES}
    for node in collectors:
        cells = code_cells(read(node.path))
        items = list(node.collect())
        assert [item.name for item in items] == [f"Cell {n}" for n in range(len(cells))], node.path
        expected_to_fail = {n for n, item in enumerate(items) if item.get_closest_marker("xfail")}
        checks = {n for n, cell in enumerate(cells) if gradflow(cell).get("check")}
        if node.path.parent == EXERCISES:
            assert checks, f"{node.path.name} has no check cells"
            assert expected_to_fail == checks, node.path
            assert all(items[n].get_closest_marker("xfail").kwargs == {"strict": True, "reason": UNSOLVED}
                       for n in checks)
            assert not node.compare_outputs  # nbval-lax: only cells tagged nbval-check-output are compared
        else:
            assert not expected_to_fail and node.compare_outputs, node.path  # strict nbval


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


def test_the_narrowed_rerun_switches_off_simd_numpy_really_dispatches():
    import subprocess
    import sys

    env = narrowed_environment()
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["NPY_DISABLE_CPU_FEATURES"].split() == widest_simd()
    # In a fresh interpreter (as the kernel is): numpy accepts the list without a warning
    # (a warning would land in a cell's output) and really turns those targets off.
    probe = ("import warnings; warnings.simplefilter('error'); "
             "from numpy._core._multiarray_umath import __cpu_features__ as f; "
             "print(' '.join(k for k, on in f.items() if on))")
    import os

    result = subprocess.run([sys.executable, "-c", probe], env=os.environ | env, capture_output=True, text=True,
                            check=True)
    assert result.stderr == ""
    assert not set(widest_simd()) & set(result.stdout.split())


def test_one_stem_per_concept_in_all_three_folders():
    stems = [{p.stem for p in notebooks_in(folder)} for folder in (LESSONS, SOLUTIONS, EXERCISES)]
    assert stems[0] == stems[1] == stems[2]
    assert "01_chain_rule" in stems[0]


def test_no_sanitize_file_hides_differences():
    # Outputs are made deterministic at the source; nothing is papered over.
    assert not list(ROOT.glob("*.cfg")) or all("regex" not in p.read_text() for p in ROOT.glob("*.cfg"))
