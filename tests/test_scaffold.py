"""`python -m course new`: a new concept's files, with the conventions in place, as a draft.

The generated concept passing the whole suite was measured by creating one
in a checkout (docs/authoring.md); here the files are made in a temporary
folder and read.
"""

import ast

import nbformat
import pytest

from conftest import gradflow
from course.authoring.build import exercise_notebook, is_check_cell
from course.authoring.nbgrader_cells import as_released
from course.authoring.scaffold import ScaffoldError, names_of, new_concept, next_steps
from course.cli import main


@pytest.fixture
def made(tmp_path):
    for folder in ("notebooks", "solutions", "exercises", "course/assess/concepts", "course/compute",
                   "course/present/widgets", "tests"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path, new_concept("08_demo_layer", "A demo layer", tmp_path, execute=False)


def test_every_file_of_a_concept_is_written(made):
    root, written = made
    assert sorted(str(p.relative_to(root)) for p in written) == sorted([
        "notebooks/08_demo_layer.ipynb", "solutions/08_demo_layer.ipynb", "exercises/08_demo_layer.ipynb",
        "course/assess/concepts/c08_demo_layer.py", "course/compute/demo_layer.py",
        "course/present/widgets/demo_layer.py", "tests/test_demo_layer.py"])
    for path in written:
        if path.suffix == ".py":
            ast.parse(path.read_text())  # valid Python after the template is filled in


def test_the_lesson_is_a_draft_with_widget_worked_and_figure_cells(made):
    root, _ = made
    nb = nbformat.read(root / "notebooks/08_demo_layer.ipynb", as_version=4)
    assert nb.metadata["gradflow"] == {"draft": True}
    widget = [c for c in nb.cells if gradflow(c).get("widget")]
    assert [gradflow(c)["widget"] for c in widget] == ["demo_layer"]
    assert widget[0].metadata["tags"] == ["nbval-ignore-output"]
    assert any(gradflow(c).get("worked") for c in nb.cells)
    assert all(c.metadata["slideshow"]["slide_type"] for c in nb.cells)
    figures = [c for c in nb.cells if c.cell_type == "code" and "plt.subplots" in c.source]
    assert figures and all(c.source.rstrip().endswith("plt.show()") for c in figures)
    assert "gradflow-demo-layer" in (root / "course/present/widgets/demo_layer.py").read_text()


def test_the_master_has_an_exercise_and_its_canonical_check_and_builds(made):
    root, _ = made
    master = nbformat.read(root / "solutions/08_demo_layer.ipynb", as_version=4)
    checks = [c for c in master.cells if is_check_cell(c)]
    assert [c.source for c in checks] == ['from course import check\ncheck("08.example", scale_gate_backward)']
    assert checks[0].metadata["tags"] == ["nbval-check-output"]
    assert [gradflow(c).get("exercise") for c in master.cells if gradflow(c).get("exercise")] == ["08.example"]
    built = nbformat.writes(as_released(exercise_notebook(master, name="08_demo_layer.ipynb"))) + "\n"
    assert (root / "exercises/08_demo_layer.ipynb").read_text() == built
    assert "NotImplementedError" in built and "float(np.sum(x * dout))" not in built


def test_nothing_is_overwritten_and_bad_stems_are_refused(made):
    root, _ = made
    with pytest.raises(ScaffoldError, match="not overwriting"):
        new_concept("08_demo_layer", "Again", root, execute=False)
    with pytest.raises(ScaffoldError, match="not overwriting"):
        new_concept("08_other", "Same number", root, execute=False)
    for stem in ("8_x", "08-x", "08_X", "two_layer"):
        with pytest.raises(ScaffoldError, match="NN_name"):
            names_of(stem, "t")


def test_the_command_prints_the_shared_files_left_to_edit(tmp_path, capsys):
    for folder in ("notebooks", "solutions", "exercises", "course/assess/concepts", "course/compute",
                   "course/present/widgets", "tests"):
        (tmp_path / folder).mkdir(parents=True)
    assert main(["new", "09_demo", "Demo", "--root", str(tmp_path), "--no-execute"]) == 0
    out = capsys.readouterr().out
    for shared in ("README.md", "docs/instructor.md", "tests/test_browser.py", "course/assess/hints.py"):
        assert shared in out
    assert main(["new", "9_demo", "Demo", "--root", str(tmp_path)]) == 1
    assert "draft" in next_steps(names_of("09_demo", "Demo"))
