"""The other half of the lessons in JupyterLab: every check of tests/test_browser.py, with its own server and browser.

A file of its own so that `make test` (which hands out whole files) runs the two
halves on two workers at once.
"""

from __future__ import annotations

import pytest

from lab_browser import require_browser_or_skip

require_browser_or_skip()

from test_browser import browser, check_lesson, lab, lessons_of_half, page  # noqa: E402,F401 (fixtures)


@pytest.mark.parametrize("path", lessons_of_half(1), ids=lambda p: p.stem)
def test_lesson_runs_and_its_widgets_follow_the_sliders(lab, page, path):
    check_lesson(lab, page, path)
