"""What an exercise is: a reference answer, test cases and known wrong answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from course.assess.hints import CATEGORIES


class Refused(Exception):
    """Raised by an exercise's ``run`` adapter: the answer ran, but did what the task rules out.

    The adapter watches the answer at work (which rows a training loop gives each step, whether a
    result is one of the inputs) and names the mistake: ``code`` is a category of
    ``course.assess.hints``, ``hint`` what to tell the learner. Under grading the adapter runs in the
    sandbox and the exception crosses to the judge by its class name and message alone, so the
    verdict is read back from those (``refusal``).
    """

    def __init__(self, code: str, hint: str) -> None:
        super().__init__(f"[{code}] {hint}")


def refusal(exc: BaseException) -> tuple[str, str] | None:
    """(code, hint) of a ``Refused``, or of its copy rebuilt outside the sandbox; else None."""
    found = re.fullmatch(r"\[(\w+)\] (.*)", str(exc), re.S) if type(exc).__name__ == "Refused" else None
    return (found[1], found[2]) if found and found[1] in CATEGORIES else None


_EMPHASIS = re.compile(r"(?<![\w*])\*([^\s*](?:[^*]*?[^\s*])?)\*(?![\w*])")


def plain(text: str) -> str:
    """``text`` without markdown emphasis: "the *mean*" -> "the mean"; x*y and 2 * 3 stay."""
    return _EMPHASIS.sub(r"\1", text)


@dataclass(frozen=True)
class Case:
    """One call of the learner's function: ``fn(*args)``.

    ``note`` says in words which example this is; it is shown in hints, so it
    describes the inputs and never the expected answer.
    """

    args: tuple
    note: str = ""

    @property
    def where(self) -> str:
        """The case as a hint names it: "the example x of shape (2, 3)", but a note that is a whole
        description already ("the 4 × 3 example of the lesson", "a batch of 5 ...") stands alone."""
        whole = self.note.startswith(("the ", "a ", "an ", "one ", "every "))
        return self.note if whole else f"the example {self.note}"


@dataclass(frozen=True)
class Misconception:
    """A wrong answer learners often give, and what to tell them.

    ``wrong`` has the reference's signature and computes the *wrong* answer;
    when the learner's outputs match it where they miss the reference, the
    hint is shown (``outputs``: only those outputs are compared). ``code`` is the category the grader counts (see
    ``course.assess.hints.CATEGORIES``).
    """

    code: str
    hint: str
    wrong: Callable[..., Any]
    # Only these outputs are compared (by name); empty: all. A forward-pass mistake is named by the
    # forward output alone, whatever the backward pass of the same answer does.
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Hints are read as plain text (a notebook's error output, a terminal, a CSV): an emphasis
        # written *so* would show its asterisks. Frozen: set once, here, before anyone sees it.
        object.__setattr__(self, "hint", plain(self.hint))


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    - ``function``: the name the learner's function has in the notebook;
      by default the reference's own name.
    - ``concept``: the notebook stem; left empty in a concept module, the
      registry fills it in from the module's name (``c03_matmul_gradients``
      gives ``03_matmul_gradients``).
    - ``reference``: the correct implementation (never shown to learners).
    - ``public``: the worked examples that the notebook also shows.
    - ``hidden``: makes fresh cases from a random generator; the grader seeds it.
    - ``outputs``: names of the returned values, in order (one name: a single
      value is returned, not a tuple).
    - ``upstream``: index of the argument that carries the upstream gradient,
      if there is one, so that a missing upstream factor can be recognised.
    - ``run``: optional adapter ``run(answer, args) -> result`` for answers
      that are not "call and return": a ``backward()`` that fills ``.grad``
      on a graph, a test the learner writes, ... The reference and the
      misconceptions always return the result directly.
    - ``run_in_sandbox``: under grading, run ``run`` beside the learner's code
      (inside the sandbox) instead of beside the judge. Needed when the answer
      makes objects the adapter then uses (a class whose instances go into a
      network): those cannot cross the sandbox's wall, only plain results can.
      The adapter must hold no reference answer (it is visible in there).
    - ``returns``: the exact type the text asks for, by output name: "int",
      "tuple of int" or "bool" (other outputs: any number, or an array of the reference's shape).
    - ``answer_of``: the course's own functions that compute this answer (dotted
      paths; a class stands for its methods). Under grading an answer that
      calls one is not credited; a learner's own check passes it with a note
      (``course.assess.own_work``).
    - ``agree``: optional custom comparison ``agree(got, expected, case)`` for
      answers that are right in more than one way; by default every output
      must be close to the reference's.
    """

    id: str
    title: str
    reference: Callable[..., Any]
    public: tuple[Case, ...]
    hidden: Callable[[np.random.Generator], list[Case]]
    outputs: tuple[str, ...]
    function: str = ""
    concept: str = ""
    misconceptions: tuple[Misconception, ...] = ()
    upstream: int | None = None
    run: Callable[[Callable[..., Any], tuple], Any] | None = None
    run_in_sandbox: bool = False
    agree: Callable[[Any, Any, Case], bool] | None = None
    returns: dict[str, str] = field(default_factory=dict, hash=False)
    rtol: float = 1e-6
    atol: float = 1e-9
    time_limit: float = 10.0
    tags: tuple[str, ...] = field(default_factory=tuple)
    answer_of: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.function:
            # frozen: set once, here, before anyone can see the object
            object.__setattr__(self, "function", self.reference.__name__)
