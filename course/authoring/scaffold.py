"""``python -m course new NN_name "Title"``: the files of a new concept, conventions in place.

It writes the lesson, the solved master (one example exercise and its check
cell), the generated exercise notebook, the concept module, the compute
module, the widget module and the test module, runs the two notebooks so
their outputs are committed-ready, and prints the shared files left to edit.

The lesson is marked as a **draft** (notebook metadata ``gradflow.draft``):
the course map, instructor-guide and browser tests skip a draft, so the suite
stays green while the concept is written. Removing the mark publishes it;
from then on those tests ask for its README row, guide section and browser
entry. Everything else (nbval, the build, every check's generic tests)
already runs on the draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

STEM = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)$")

#: What a new concept still needs by hand, in shared files (docs/authoring.md explains each).
SHARED_FILES = (
    ("README.md", "a row in the course map, linking the three notebooks"),
    ("docs/instructor.md", "a section `## NN_name — Title` (plan, widget questions, three mistakes, exercises)"),
    ("tests/test_browser.py", "an entry in EXPECTED: what the widget shows for given slider values"),
    ("course/assess/hints.py", "only if a misconception needs a new category code"),
)


class ScaffoldError(ValueError):
    """The stem is malformed or a file of the concept exists already."""


@dataclass(frozen=True)
class Names:
    stem: str  # 06_two_layer_net
    number: str  # 06
    name: str  # two_layer_net
    title: str

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def css(self) -> str:
        return "gradflow-" + self.name.replace("_", "-")


def names_of(stem: str, title: str) -> Names:
    match = STEM.match(stem)
    if not match:
        raise ScaffoldError(f"a concept stem is NN_name in lower case, like 06_two_layer_net; got {stem!r}")
    if not title.strip():
        raise ScaffoldError("give the concept a title, e.g. \"A two-layer network\"")
    return Names(stem, match.group(1), match.group(2), title.strip())


def paths_of(root: Path, n: Names) -> dict[str, Path]:
    return {
        "lesson": root / "notebooks" / f"{n.stem}.ipynb",
        "master": root / "solutions" / f"{n.stem}.ipynb",
        "exercises": root / "exercises" / f"{n.stem}.ipynb",
        "concept": root / "course" / "assess" / "concepts" / f"c{n.stem}.py",
        "compute": root / "course" / "compute" / f"{n.name}.py",
        "widget": root / "course" / "present" / "widgets" / f"{n.name}.py",
        "test": root / "tests" / f"test_{n.name}.py",
    }


# ----- the package modules ----------------------------------------------------------------

COMPUTE = '''"""{title}: the computations of concept {number} (draft made by `python -m course new`).

Pairs as in ``course.compute.layers``: ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients in input order``; every docstring gives
the shapes. Replace the example pair (a scale gate) with the concept's own.
"""

from __future__ import annotations

import numpy as np


def scale_forward(x: np.ndarray, a: float) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    """``out = a * x``. ``x``: (N, D); ``a``: a number. Returns ``out`` (N, D) and the cache (x, a)."""
    return a * x, (x, a)


def scale_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> tuple[np.ndarray, float]:
    """``dx = a * dout`` (N, D) and ``da = sum(x * dout)`` (a number): a fork of a into every entry."""
    x, a = cache
    return a * dout, float(np.sum(x * dout))
'''

CONCEPT = '''"""Exercises of concept {number}, {title} (draft made by `python -m course new`).

Cases come from ``course.assess.cases``; each misconception is proven by a
test with a wrong answer (tests/test_{name}.py). Replace the example.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import array, case, many, number, sizes
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.{name} import scale_backward, scale_forward


def scale_gate_backward(x, a, dout):
    return scale_backward(dout, scale_forward(x, a)[1])


def _scale_case(rng: np.random.Generator, k: int) -> Case:
    n, d = sizes(rng, k, count=2)
    return case(x=array(rng, (n, d)), a=number(rng), dout=array(rng, (n, d)))


EXAMPLE = Exercise(
    id="{number}.example",
    title="example: a scale gate, backward",
    reference=scale_gate_backward,
    public=(case(x=np.array([[1.0, -2.0, 0.5]]), a=3.0, dout=np.array([[1.0, 1.0, -1.0]])),),
    hidden=many(12, _scale_case),
    outputs=("dx", "da"),
    upstream=2,
    misconceptions=(
        Misconception("output_for_input", "da sums the *input* x times dout over every entry; you used the"
                                          " output a·x in its place.",
                      lambda x, a, dout: (a * dout, float(np.sum(a * x * dout)))),
    ),
)

EXERCISES = [EXAMPLE]
'''

WIDGET = '''"""The widget of concept {number}, {title} (draft made by `python -m course new`).

``{name}_state`` is the plain function the tests call; ``{name}_widget`` only
wires a slider to it and shows the result. The box carries the class
``{css}``, by which the browser tests find it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from course.compute.{name} import scale_backward, scale_forward

X = np.array([[1.0, -2.0, 0.5]])


@dataclass(frozen=True)
class {camel}State:
    a: float
    out: np.ndarray
    dx: np.ndarray
    da: float

    def summary(self) -> str:
        return f"out = {{np.round(self.out, 3).tolist()}}   dx = {{np.round(self.dx, 3).tolist()}}   da = {{self.da:.3f}}"


def {name}_state(a: float) -> {camel}State:
    """The example gate at ``a`` on the fixed input X, with an upstream gradient of ones."""
    out, cache = scale_forward(X, a)
    dx, da = scale_backward(np.ones_like(out), cache)
    return {camel}State(a, out, dx, da)


def {name}_widget(a: float = 2.0):
    """A slider for a above the numbers of the gate."""
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=a, min=-3.0, max=3.0, step=0.5, description="a", continuous_update=True,
                                 readout_format=".1f")
    numbers = widgets.HTML()

    def redraw(_change=None) -> None:
        numbers.value = f"<pre>{{html.escape({name}_state(slider.value).summary())}}</pre>"

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, numbers])
    box.add_class("{css}")
    return box
'''

TEST = '''"""Concept {number}, {title}: the compute pair against numerical gradients, the widget's
state, and a wrong answer per hint (draft made by `python -m course new`)."""

import numpy as np

from course.assess.check import check
from course.assess.concepts import c{stem} as concept
from course.assess.diagnose import evaluate
from course.assess.registry import exercises_of
from course.compute.gradcheck import numerical_gradient
from course.compute.{name} import scale_backward, scale_forward
from course.present.widgets.{name} import {name}_state, {name}_widget

SEED = 3


def test_backward_matches_numerical_gradients():
    rng = np.random.default_rng(0)
    x, dout, a = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), 1.7
    dx, da = scale_backward(dout, scale_forward(x, a)[1])
    np.testing.assert_allclose(dx, numerical_gradient(lambda v: scale_forward(v, a)[0], x, dout), rtol=1e-6)
    numeric_da = numerical_gradient(lambda v: scale_forward(x, float(v[0]))[0], np.array([a]), dout)[0]
    np.testing.assert_allclose(da, numeric_da, rtol=1e-6)


def test_the_concept_s_exercises_are_registered():
    assert [e.id for e in exercises_of("{stem}")] == ["{number}.example"]


def test_the_reference_passes_its_check(capsys):
    check("{number}.example", concept.scale_gate_backward)
    assert capsys.readouterr().out.startswith("✔ {number}.example")


def test_using_the_output_for_the_input_gets_its_hint():
    verdict = evaluate(concept.EXAMPLE, lambda x, a, dout: (a * dout, float(np.sum(a * x * dout))), SEED)
    assert verdict.code == "output_for_input" and "*input* x" in verdict.message


def test_widget_state_and_widget():
    state = {name}_state(2.0)
    np.testing.assert_allclose(state.dx, np.full((1, 3), 2.0))
    assert "{css}" in {name}_widget()._dom_classes
'''


# ----- the notebooks ------------------------------------------------------------------------

def _cell(kind: str, source: str, slide: str, **gradflow) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.metadata["slideshow"] = {"slide_type": slide}
    if gradflow:
        cell.metadata["gradflow"] = gradflow
    return cell


def _notebook(cells: list, draft: bool = False) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    if draft:
        nb.metadata["gradflow"] = {"draft": True}
    nb.cells = cells
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k:02d}"  # stable ids: a rerun of `course new` makes the same bytes
    return nb


def lesson(n: Names) -> nbformat.NotebookNode:
    widget = _cell("code", f"from course.present.widgets.{n.name} import {n.name}_widget\n\n{n.name}_widget()",
                   "subslide", widget=n.name)
    widget.metadata["tags"] = ["nbval-ignore-output"]
    return _notebook([
        _cell("markdown", f"# {n.number} · {n.title}\n\n*Draft made by `python -m course new`: the example below"
                          " (a scale gate) shows each kind of cell; replace it with the lesson.*", "slide"),
        _cell("code", "import numpy as np\nimport matplotlib.pyplot as plt\n\n"
                      f"from course.compute.{n.name} import scale_backward, scale_forward\n\n"
                      "np.set_printoptions(precision=4, suppress=True)", "skip"),
        _cell("markdown", "## Worked numbers\n\nOne example, worked through, printed so that a test can check"
                          " the numbers.", "slide"),
        _cell("code", "x = np.array([[1.0, -2.0, 0.5]])\nout, cache = scale_forward(x, 3.0)\n"
                      "dx, da = scale_backward(np.ones_like(out), cache)\nprint(\"out =\", out)\n"
                      "print(\"dx  =\", dx)\nprint(f\"da  = {da:.4f}\")", "-", worked=n.name),
        _cell("markdown", "## A picture\n\nA figure cell ends with `plt.show()`.", "slide"),
        _cell("code", "a = np.linspace(-3, 3, 61)\nfig, ax = plt.subplots(figsize=(5, 3))\n"
                      "ax.plot(a, [scale_backward(np.ones((1, 3)), scale_forward(x, v)[1])[1] for v in a])\n"
                      "ax.set_xlabel(\"a\")\nax.set_ylabel(\"da\")\nplt.show()", "-"),
        _cell("markdown", "## Try it\n\nMove the slider: dx follows a, da does not.", "slide"),
        widget,
    ], draft=True)


def master(n: Names) -> nbformat.NotebookNode:
    exercise_id = f"{n.number}.example"
    only = _cell("markdown", "*The solved master: each solution sits between `### BEGIN SOLUTION` and"
                             " `### END SOLUTION`; the exercise notebook is generated from it by"
                             " `python -m course build`.*", "skip")
    only.metadata["tags"] = ["solution-only"]
    check_cell = _cell("code", f'from course import check\ncheck("{exercise_id}", scale_gate_backward)', "-",
                       check=exercise_id)
    check_cell.metadata["tags"] = ["nbval-check-output"]
    return _notebook([
        _cell("markdown", f"# Exercises {n.number} · {n.title}\n\nWrite each function where it says"
                          " `raise NotImplementedError(...)`, run that cell, then run the **check cell**"
                          " under it.", "slide"),
        only,
        _cell("code", "import numpy as np\n\nfrom course import check", "skip"),
        _cell("markdown", "## 1. An example exercise\n\n`scale_gate_backward(x, a, dout)` gets the input `x`"
                          " (N, D), the number `a` and the upstream gradient `dout` of `out = a * x`. Return"
                          " `(dx, da)`: `dx` an array of the shape of `x`, `da` a number.", "slide"),
        _cell("code", "def scale_gate_backward(x, a, dout):\n"
                      "    \"\"\"Backward of out = a * x: returns (dx, da).\"\"\"\n"
                      "    ### BEGIN SOLUTION\n    return a * dout, float(np.sum(x * dout))\n"
                      "    ### END SOLUTION", "-", exercise=exercise_id),
        check_cell,
        _cell("markdown", "## Done?\n\nWhen every check prints ✔, go on to the next concept.", "slide"),
    ])


# ----- writing it all -----------------------------------------------------------------------

def new_concept(stem: str, title: str, root: Path, execute: bool = True) -> list[Path]:
    """Create every file of the concept under ``root``; refuse if any exists. Returns the files written."""
    n = names_of(stem, title)
    paths = paths_of(root, n)
    taken = [p for p in paths.values() if p.exists()]
    taken += [p for p in (root / "notebooks").glob(f"{n.number}_*.ipynb") if p != paths["lesson"]]
    if taken:
        raise ScaffoldError("not overwriting what exists: " + ", ".join(str(p.relative_to(root)) for p in taken))
    fields = {"stem": n.stem, "number": n.number, "name": n.name, "title": n.title, "camel": n.camel, "css": n.css}
    texts = {"compute": COMPUTE, "concept": CONCEPT, "widget": WIDGET, "test": TEST}
    for key, template in texts.items():
        paths[key].write_text(template.format(**fields), encoding="utf-8")
    for key, nb in (("lesson", lesson(n)), ("master", master(n))):
        nbformat.write(nb, paths[key])
    if execute:
        from course.authoring.execute import execute_all

        execute_all([paths["lesson"], paths["master"]])
    from course.authoring.build import build_one, write

    write(build_one(paths["master"], paths["exercises"].parent))  # the exercise notebook, the nbgrader metadata
    return list(paths.values())


def next_steps(n: Names) -> str:
    lines = [f"Concept {n.stem} created as a draft (notebooks/{n.stem}.ipynb: metadata gradflow.draft).",
             "Write the lesson, the exercises and their tests; then, to publish it, remove the draft mark and edit:"]
    lines += [f"  {path:<26} {what}" for path, what in SHARED_FILES]
    lines.append("Details: docs/authoring.md.")
    return "\n".join(lines)
