"""A check cell run too early says so, instead of a bare NameError.

A check cell is ``from course import check`` and ``check("01.mul_gate",
mul_backward)``: the import is in the cell itself, so that after a kernel
restart the cell still has ``check`` (and this handler) without the import
cell above. Run before the cell that defines ``mul_backward`` (or after a
restart), Python raises NameError while evaluating the argument, before
``check`` is even called, so nothing in ``check`` can help. IPython lets a package handle chosen
exceptions in the kernel: this handler recognises exactly that case (a
NameError for the function named in a check cell's line) and shows what to
do; every other NameError keeps IPython's usual traceback. The cell still
fails, in a plain kernel and under nbval alike.
"""

from __future__ import annotations

import re
import traceback

# The canonical check line (docs/authoring.md): check("<id>", <function>).
CHECK_LINE = re.compile(r'^\s*check\(\s*"(?P<id>\d\d\.\w+)"\s*,\s*(?P<name>\w+)\s*\)\s*$')


def early_check_message(name: str, exercise_id: str) -> str:
    return (f"NameError: run the cells above first: `{name}` is not defined yet. Run the cell of exercise"
            f" {exercise_id} that defines `{name}` (after a kernel restart: every cell above, with"
            " Run → Run All Above Selected Cell), then run this check again.")


def explain(value: BaseException, tb) -> str | None:
    """The message for a NameError raised by a check cell's own argument, else None."""
    frames = traceback.extract_tb(tb)
    match = CHECK_LINE.match(frames[-1].line or "") if frames else None
    if match is None or getattr(value, "name", None) != match["name"]:
        return None
    return early_check_message(match["name"], match["id"])


def _handler(shell, etype, value, tb, tb_offset=None):
    message = explain(value, tb)
    if message is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    stb = [message]
    shell._showtraceback(etype, value, stb)
    return stb


def install() -> None:
    """Register the handler in the running IPython kernel; nothing happens outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and NameError not in getattr(shell, "custom_exceptions", ()):
        shell.set_custom_exc((NameError,), _handler)
