"""The README's course map lists every concept with its three notebooks."""

import re

from conftest import ROOT, published_lessons


def test_course_map_has_a_row_per_concept_with_working_links():
    readme = (ROOT / "README.md").read_text()
    for lesson in published_lessons():
        stem = lesson.stem
        row = next((line for line in readme.splitlines() if line.startswith(f"| {stem[:2]} |")), None)
        assert row, f"README course map has no row for {stem}"
        for folder in ("notebooks", "exercises", "solutions"):
            assert f"({folder}/{stem}.ipynb)" in row
    for link in re.findall(r"\]\(((?:notebooks|exercises|solutions|docs)/[^)]+)\)", readme):
        assert (ROOT / link).exists(), f"README links to missing {link}"


def test_readme_gives_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make lab") < readme.index("## Course map")
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    # The fast tier is named beside the whole truth, and is a target of the Makefile.
    assert "make check" in readme and "\ncheck: " in (ROOT / "Makefile").read_text()
