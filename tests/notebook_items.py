"""Every notebook of the course as tests of the suite's own run: nbval, one item per code cell.

``tests/test_notebooks.py`` collects, besides its own tests, every notebook
found in notebooks/, solutions/ and exercises/ (a new concept is picked up
by being there). Each notebook runs once per ``make test``, in one kernel,
inside the suite's pytest-xdist workers (one notebook per worker at a time,
balanced with the other test files), instead of in pytest sessions started
for the purpose:

- notebooks/ and solutions/: strict nbval; every output must be what the
  rerun prints (only widget cells are tagged to be ignored);
- notebooks/ and solutions/ once more, with numpy's SIMD dispatch narrowed
  (``NPY_DISABLE_CPU_FEATURES``: the widest instruction sets this processor
  has, switched off) and one BLAS thread, so that sums run in another order:
  a saved output that round-off decides fails here on every machine, not
  only on a learner's (item ids ``notebooks/NN_x.ipynb[narrow-simd]::Cell k``,
  each a test file of its own for the workers);
- exercises/: nbval-lax, and the check cells must fail: each is marked
  ``xfail(strict=True)``, so a check cell that passes on the generated
  notebook fails the suite, and so does any other cell that fails. That is
  the contract a learner's repository CI relies on (``pytest --nbval-lax
  exercises/`` fails exactly at the exercises not done yet).

Kernels are started through ``kernels``: at most one per core at once, and
a kernel slow to start is waited for and started again, never reported as
the notebook's failure.
"""

from __future__ import annotations

import os

import pytest
from nbval.plugin import IPyNbFile

from conftest import EXERCISES, LESSONS, ROOT, SOLUTIONS, gradflow, notebooks_in
from kernels import kernel_slots, start_nbval_kernel

STRICT_FOLDERS = (LESSONS, SOLUTIONS)
LAX_FOLDERS = (EXERCISES,)
CELL_TIMEOUT = 300.0  # seconds per cell: generous, a busy machine is not a failing cell
UNSOLVED = "the check cell of an exercise not solved yet must fail (nbval-lax contract of exercises/)"


def course_notebooks():
    """(path, lax) for every notebook nbval validates in the suite."""
    return ([(p, False) for folder in STRICT_FOLDERS for p in notebooks_in(folder)]
            + [(p, True) for folder in LAX_FOLDERS for p in notebooks_in(folder)])


class ValidatedNotebook(IPyNbFile):
    """nbval's notebook collector, strict or lax per folder, with the suite's kernels."""

    lax = False
    narrow = False  # rerun with numpy's widest SIMD switched off and one BLAS thread
    _slots = None

    def collect(self):
        self.compare_outputs = not self.lax
        for item in super().collect():
            if self.lax and gradflow(item.cell).get("check"):
                item.add_marker(pytest.mark.xfail(strict=True, reason=UNSOLVED))
            yield item

    def setup(self):
        self._slots = kernel_slots(1)
        self._slots.__enter__()
        name = self.nb.metadata.get("kernelspec", {}).get("name", "python3")
        env = kernel_environment() | (narrowed_environment() if self.narrow else {})
        self.kernel = start_nbval_kernel(name, str(self.path.parent), env=env)
        self.setup_sanitize_files()

    def teardown(self):
        try:
            super().teardown()
        finally:
            if self._slots is not None:
                self._slots.__exit__(None, None, None)
                self._slots = None


def kernel_environment() -> dict[str, str]:
    # A committed output must not depend on a variable a test set for its own kernel.
    return {k: v for k, v in os.environ.items() if not k.startswith("GRADFLOW_")}


NARROW = "narrow-simd"


def widest_simd() -> list[str]:
    """The widest of numpy's dispatch targets this processor runs (``X86_V4 AVX512_ICL`` on an AVX-512 machine).

    All but the narrowest target it has; with only one, that one, so that
    numpy falls back to its baseline. Only targets numpy dispatches and the
    processor has: numpy warns (in the kernel, into a cell's output) about any other.
    """
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    present = [target for target in __cpu_dispatch__ if __cpu_features__.get(target)]
    return present[1:] if len(present) > 1 else present


def narrowed_environment() -> dict[str, str]:
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(widest_simd()), "OPENBLAS_NUM_THREADS": "1"}


class NotebookModule(pytest.Module):
    """test_notebooks.py: its own tests, then one collector per course notebook."""

    def collect(self):
        yield from super().collect()
        option = self.config.option
        if option.nbval or option.nbval_lax:
            return  # nbval was asked for directly: it collects the paths it was given itself
        if option.nbval_cell_timeout == 2000:  # nbval's default: 33 minutes for a cell that hangs
            option.nbval_cell_timeout = CELL_TIMEOUT
        yield from notebook_collectors(self)


def notebook_collectors(parent) -> list[ValidatedNotebook]:
    """One collector per notebook, and one more per strict notebook for the narrowed rerun."""
    nodes = []
    for path, lax in course_notebooks():
        node = ValidatedNotebook.from_parent(parent, path=path, name=str(path.relative_to(ROOT)))
        node.lax = lax
        nodes.append(node)
    for path, lax in course_notebooks():
        if not lax:
            name = f"{path.relative_to(ROOT)}[{NARROW}]"
            node = ValidatedNotebook.from_parent(parent, path=path, name=name, nodeid=name)
            node.narrow = True
            nodes.append(node)
    return nodes
