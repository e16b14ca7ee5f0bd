"""Own work: an answer that calls the course's own implementation of what it is asked to write.

An exercise declares which course functions are its answer
(``Exercise.answer_of``: dotted paths, a class standing for every method
defined in its body). While the learner's function runs on the exercise's
cases, ``watching`` notes every call of one of them, whatever name it was
called by (``from course.compute.batchnorm import batchnorm_backward``, a
method reached through a subclass, ``super()``): a profile hook compares each
called frame's code with the declared functions' code. Found by running, not
by reading the source, so a comment or an unused import says nothing, and a
call hidden behind another name is still seen.

What follows from a call is the verdict's business: under grading the answer
is not credited (``uncredited``); in a learner's own check it passes with a
note that it is fine for practice but will not count (``practice_note``).
Lessons and other exercises use the same functions freely: nothing is
watched outside the learner's function of the exercise that declares them.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

CODE = "not_own_work"

_local = threading.local()  # the recordings open in this thread (a stack: a check inside a check)


def _resolve(path: str):
    module, _, rest = _split(path)
    obj = importlib.import_module(module)
    for part in rest.split("."):
        obj = getattr(obj, part)
    return obj


def _split(path: str) -> tuple[str, str, str]:
    """"course.compute.network.Network.train" -> the longest importable module, then the attributes."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return module, ":", ".".join(parts[cut:])
    raise ImportError(f"no module in {path!r}")


def _codes(paths: tuple[str, ...]) -> dict:
    """code object -> the short name a message gives it (``batchnorm_backward``, ``BatchNorm.backward``)."""
    found = {}
    for path in paths:
        try:
            found.update(_codes_of(_resolve(path)))
        except (ImportError, AttributeError):
            continue  # a module of wrong answers is empty inside the grading sandbox
    return found


def _codes_of(obj) -> dict:
    if isinstance(obj, type):
        members = [(f"{obj.__name__}.{name}", value) for name, value in vars(obj).items()]
    else:
        members = [(getattr(obj, "__name__", "function"), obj)]
    found = {}
    for name, value in members:
        function = getattr(value, "__func__", value)  # static and class methods
        code = getattr(getattr(function, "__wrapped__", function), "__code__", None)
        if code is not None:
            found[code] = name
    return found


@contextmanager
def recording() -> Iterator[set]:
    """The names of the declared functions called while this is open (in this thread)."""
    names: set = set()
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(names)
    try:
        yield names
    finally:
        stack.remove(names)


@contextmanager
def watching(paths: tuple[str, ...], answer=None) -> Iterator[None]:
    """Note, in every open recording, each call of a function of ``paths`` that the learner's code makes
    inside this block; and the answer itself when it *is* one of them (handed in as it is)."""
    codes = _codes(tuple(paths)) if paths else {}
    if not codes:
        yield
        return
    previous = sys.getprofile()
    seen = _local.__dict__.setdefault("stack", [])
    try:
        itself = {codes[code] for code in _codes_of(answer) if code in codes} if answer is not None else set()
    except TypeError:  # vars() of an object without a __dict__
        itself = set()
    for names in seen:
        names.update(itself)
    outer = sys._getframe(2)  # the frame of the `with` (this generator's, then contextlib's __enter__)

    def profile(frame, event, arg):
        if event == "call":
            name = codes.get(frame.f_code)
            if name is not None and _called_by_the_answer(frame.f_back, outer):
                for names in seen:
                    names.add(name)
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


# Code in these folders is the course's or Python's own; any other frame is the learner's (a notebook cell).
_OWN = tuple(str(Path(p).resolve()) + os.sep for p in
             {str(Path(__file__).resolve().parents[1]), sys.prefix, sys.base_prefix, sys.exec_prefix}
             if len(Path(p).resolve().parts) > 1)  # never "/" itself: that would make every frame Python's


def _called_by_the_answer(frame, outer) -> bool:
    """Is a frame of the learner's code between ``frame`` (the caller) and the watch's ``outer`` frame?

    An exercise's adapter calls course code of its own around the answer (02's reads the leaves of the
    graph with the course's walk): only what the learner's code calls, directly or through the course's
    classes it builds on, is the learner's.
    """
    while frame is not None and frame is not outer:
        filename = frame.f_code.co_filename
        if not filename.startswith("<frozen") and not os.path.abspath(filename).startswith(_OWN):
            return True
        frame = frame.f_back
    return False


def _named(names) -> str:
    shown = [f"`{name}`" for name in sorted(names)]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def uncredited(verdict, names, function: str):
    """Under grading: a passing answer that called the course's own implementation gets no credit."""
    if not names or not verdict.passed:
        return verdict
    message = (f"`{function}` calls the course's own {_named(names)}, which computes what this exercise asks"
               " you to write: not credited. Write it yourself; the course's function may check your"
               " result in a test of your own, not compute it.")
    cases = {"cases_passed": 0} if verdict.cases_total is not None else {}
    return replace(verdict, passed=False, code=CODE, message=message, **cases)


def practice_note(names, function: str) -> str:
    """In a learner's own check: what a passing answer that called it is told under the ✔ line."""
    them = "it" if len(names) == 1 else "them"
    return (f"Note: `{function}` calls the course's own {_named(names)}. That is fine for practice, but it will"
            f" not count: under grading, an answer that calls {them} is not credited. Write that part yourself.")
