"""docs/instructor.md has a section for every concept, in step with the checks.

The "Misconceptions the checks recognise most" of a concept quote mistake
codes; each must be a code that the concept's checks really give, and together
they must be the codes found in the most of its exercises. The exercise lists
must name every exercise of the concept, the session plan must fill 50 minutes
and give the in-class exercises real time, and every session states its
learning objectives and prerequisites.
"""

import re
from collections import Counter

import pytest

from conftest import ROOT, is_draft, published_lessons
from course.assess.registry import all_exercises

GUIDE = ROOT / "docs" / "instructor.md"


def concepts() -> list[str]:
    stems = {p.stem for p in published_lessons()}
    return sorted(stems | {e.concept for e in all_exercises().values() if not is_draft(e.concept)})


def sections() -> dict[str, str]:
    """Concept stem -> text of its `## NN_name — Title` section."""
    found = {}
    for part in re.split(r"^(?=## )", GUIDE.read_text(), flags=re.M):
        match = re.match(r"## (\d\d_\w+) — ", part)
        if match:
            found[match.group(1)] = part
    return found


def subsection(text: str, title: str) -> str:
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^### |\Z)", text, flags=re.M | re.S)
    assert match, f"no '### {title}'"
    return match.group(1)


def exercise_counts(concept: str) -> Counter:
    """Mistake code -> number of the concept's exercises that recognise it."""
    counts = Counter()
    for exercise in all_exercises().values():
        if exercise.concept == concept:
            counts.update({m.code for m in exercise.misconceptions})
    return counts


def test_readme_links_the_guide():
    assert "(docs/instructor.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("concept", concepts())
def test_every_concept_has_a_section(concept):
    assert concept in sections(), f"docs/instructor.md has no '## {concept} — ...' section"


@pytest.mark.parametrize("concept", concepts())
def test_three_mistakes_are_the_checks_most_frequent_codes(concept):
    text = subsection(sections()[concept], "Misconceptions the checks recognise most")
    items = re.findall(r"^- `(\w+)` \(([^)]*)\)", text, flags=re.M)
    assert len(items) == 3, f"{concept}: expected three mistakes, found {len(items)}"
    counts = exercise_counts(concept)
    exercises = all_exercises()
    for code, where in items:
        assert code in counts, f"{concept}: its checks never give the mistake code {code!r}"
        for exercise_id in re.split(r",\s*", where.strip()):
            assert exercise_id in exercises, f"{concept}: no exercise {exercise_id!r}"
            codes = {m.code for m in exercises[exercise_id].misconceptions}
            assert code in codes, f"{exercise_id} does not recognise {code!r}"
    listed = {code for code, _ in items}
    weakest = min(counts[code] for code in listed)
    more_frequent = [code for code in counts if code not in listed and counts[code] > weakest]
    assert not more_frequent, f"{concept}: {more_frequent} occur in more exercises than a listed mistake"


@pytest.mark.parametrize("concept", concepts())
def test_exercise_lists_name_every_exercise_once(concept):
    text = subsection(sections()[concept], "Exercises")
    named = re.findall(r"`(\d\d\.\w+)`", text)
    assert "In class:" in text and "Homework:" in text
    expected = sorted(e.id for e in all_exercises().values() if e.concept == concept)
    assert sorted(named) == expected


@pytest.mark.parametrize("concept", concepts())
def test_session_plan_fills_fifty_minutes(concept):
    text = subsection(sections()[concept], "Session plan")
    minutes = [int(m) for m in re.findall(r"^\| (\d+) \|", text, flags=re.M)]
    assert sum(minutes) == 50, f"{concept}: the session plan adds up to {sum(minutes)} minutes"


@pytest.mark.parametrize("concept", concepts())
def test_every_widget_has_questions(concept):
    assert "?" in subsection(sections()[concept], "At the widget")


@pytest.mark.parametrize("concept", concepts())
def test_in_class_exercises_get_real_time(concept):
    section = sections()[concept]
    in_class = re.findall(r"`(\d\d\.\w+)`", re.search(r"^- In class:(.*)$", subsection(section, "Exercises"),
                                                       flags=re.M).group(1))
    rows = re.findall(r"^\| (\d+) \| In-class exercises:(.*)\|$", subsection(section, "Session plan"), flags=re.M)
    assert len(rows) == 1, f"{concept}: the session plan needs one 'In-class exercises' row"
    minutes, what = int(rows[0][0]), rows[0][1]
    assert set(re.findall(r"`(\d\d\.\w+)`", what)) == set(in_class)
    assert minutes >= max(10, 3 * len(in_class)), f"{concept}: {minutes} minutes for {len(in_class)} exercises"


@pytest.mark.parametrize("concept", concepts())
def test_every_session_has_objectives_and_prerequisites(concept):
    section = sections()[concept]
    objectives = re.findall(r"^- ", subsection(section, "Learning objectives"), flags=re.M)
    assert len(objectives) >= 3, f"{concept}: state at least three learning objectives"
    prerequisites = subsection(section, "Prerequisites")
    assert re.findall(r"^- ", prerequisites, flags=re.M)
    number = int(concept[:2])
    if number > 1:  # a later session names the lesson it builds on
        assert re.search(r"Lessons? (0\d)", prerequisites), f"{concept}: name the earlier lesson it needs"


def test_the_guide_says_how_to_find_a_class_s_own_misconceptions():
    text = GUIDE.read_text()
    assert "Three most common mistakes" not in text
    from course.gradebook import report_html

    source = open(report_html.__file__, encoding="utf-8").read()
    heading = re.search(r"<h2>(Mistakes to teach again)</h2>", source).group(1)
    assert f'"{heading}"' in text and "grades/report.html" in text
