"""Gradflow: backpropagation by hand.

The helper package of the course's notebooks, in layers, each importing only
the ones before it (tests/test_architecture.py keeps this true; docs/authoring.md
has the map):

- ``course.compute``: the scalar graph node, vectorized layers, gradient checks
  (numpy and plain Python only);
- ``course.present``: circuit drawings, plots and the lessons' widgets
  (matplotlib and ipywidgets, imported only when a picture is asked for);
- ``course.assess``: the exercise registry, ``check``, the points of a check
  cell, and the seam where grading plugs into ``check``;
- ``course.authoring``: exercises/ built from solutions/, notebooks executed,
  a new concept scaffolded;
- ``course.safe_run``: a learner's notebooks run safely, from submissions to
  verdict rows;
- ``course.gradebook``: from rows to scores, reports, feedback and exports;
- ``course.cli``: ``python -m course build | new | grade | progress | ...``.

The names below are what notebooks use; they are imported on first use so
that ``import course`` stays fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Node": "course.compute.graph",
    "sigmoid": "course.compute.graph",
    "numerical_gradient": "course.compute.gradcheck",
    "gradcheck": "course.compute.gradcheck",
    "compare_gradients": "course.compute.gradcheck",
    "GradCheckResult": "course.compute.gradcheck",
    "draw_circuit": "course.present.circuit",
    "show_circuit": "course.present.circuit",
    "show_figure": "course.present.figures",
    "check": "course.assess.check",
    "dropout_forward": "course.compute.dropout",
    "dropout_backward": "course.compute.dropout",
    "topological_order": "course.compute.graph",
    "Var": "course.compute.local_graph",
    "staged_widget": "course.present.widgets.staged",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'course' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
