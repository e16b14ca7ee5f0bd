"""How many rejected wrong answers of concepts 06 and 07 get a hint that names their mistake.

The corpus (tests/hint_corpus.py) holds plausible wrong answers written as
learners write them. A rejection is *generic* when its message is the
fallback that names no mistake ("`dx` is not right. ... Work the example
through by hand"); every other rejection names what is wrong. The goal is at
least 90 % named; a wrong answer that passes fails the test outright.

    .venv/bin/python tests/test_hint_specificity.py   # prints the table and the share
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from hint_corpus import CORPUS  # noqa: E402

from course.assess.diagnose import evaluate  # noqa: E402
from course.assess.registry import get_exercise  # noqa: E402

SEED = 20240521
GOAL = 0.9


def is_generic(message: str) -> bool:
    return "Work the example through by hand" in message


def verdicts():
    for ident, answers in CORPUS.items():
        exercise = get_exercise(ident)
        for name, answer in answers:
            yield ident, name, evaluate(exercise, answer, SEED)


def test_every_wrong_answer_is_rejected_and_nine_in_ten_are_named():
    rows = list(verdicts())
    passed = [(ident, name) for ident, name, v in rows if v.passed]
    assert not passed, f"wrong answers that pass: {passed}"
    generic = [(ident, name, v.message) for ident, name, v in rows if is_generic(v.message)]
    share = 1 - len(generic) / len(rows)
    assert share >= GOAL, f"{share:.0%} named; generic: {generic}"


def test_no_hint_shows_markdown_or_a_doubled_phrase():
    for ident, name, v in verdicts():
        assert not re.search(r"(?<![\w*`])\*\w[^*`]*\*(?!\w)", v.message), (ident, name, v.message)
        assert "the example the" not in v.message, (ident, name, v.message)


if __name__ == "__main__":
    rows = list(verdicts())
    for ident, name, v in rows:
        mark = "PASSES" if v.passed else ("generic" if is_generic(v.message) else v.code)
        print(f"{ident:22} {name:34} {mark:18} {v.message[:110]}")
    rejected = [v for _, _, v in rows if not v.passed]
    named = [v for v in rejected if not is_generic(v.message)]
    print(f"{len(named)} of {len(rows)} wrong answers rejected with a named mistake ({len(named) / len(rows):.0%});"
          f" {len(rows) - len(rejected)} passed")
