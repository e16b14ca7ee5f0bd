"""Every lesson in JupyterLab, in a real headless chromium.

For each lesson notebook: open it on a fresh kernel, run all cells, assert
that no error appeared, then move every slider of its widget, once with the
keyboard and once by dragging, and assert that the numbers on the page are
the ones the widget's state function gives for the sliders' new values and
that the picture changed. Then, by keyboard alone, Tab through every control
of each widget, change each one and see the widget change. Every picture
must have alt text. In JupyterLab's light and in its dark theme, axe-core
checks the lesson's content (rendered text and outputs) for serious or
critical violations, and screenshots of each widget and of the first figure
go to build/screenshots/<lesson>-{widget,figure}-{light,dark}.png.

Every other lesson is checked here, the rest in tests/test_browser_other_half.py
(same checks, its own server and browser): `make test` hands out whole files,
so the two halves run on two workers at once. Each lesson holds one kernel
slot (tests/kernels.py) while it runs.

These tests run only when GRADFLOW_REQUIRE_BROWSER=1 (CI sets it, after
scripts/install-browser.sh); then a missing browser or playwright is a
failure. Without the variable they are skipped, which keeps `make test` fast.
"""

from __future__ import annotations

import re

import pytest

from a11y import blocking, run_axe
from conftest import ROOT, published_lessons
from kernels import kernel_slots
from lab_browser import (
    CONTROL_KIND_JS,
    CONTROLS_JS,
    NOTEBOOK,
    THEMES,
    active_control,
    displayed,
    error_outputs,
    launch_browser,
    missing_alt,
    open_notebook,
    require_browser_or_skip,
    run_all_cells,
    set_theme,
    slider_values,
    start_lab,
    widget_class,
    widget_names,
)

require_browser_or_skip()

SCREENSHOTS = ROOT / "build" / "screenshots"
UPDATE_TIMEOUT_MS = 15_000
TRAIN_TIMEOUT_MS = 120_000  # three chunks of training on a kernel shared with a busy machine


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# What each widget must show for given slider values (its other controls at
# their defaults): strings computed by the widget's own state function.

def _chain_rule(v: dict[str, float]) -> list[str]:
    from course.present.widgets.chain_rule import chain_rule_state

    s = chain_rule_state("(x + y) · z", v["x"], v["y"], v["z"])
    return [f"f = {s.f:.3f}"] + [f"∂f/∂{k} = {g:.3f}" for k, g in s.grads.items()]


def _staged(v: dict[str, float]) -> list[str]:
    from course.present.widgets.staged import LAST_STEP, _fmt, staged_state

    s = staged_state(v["x"], v["y"], int(v["step"]))
    return [f"Step {s.step} of {LAST_STEP}.", _normal(s.current)] + [_fmt(x) for x in s.values.values()]


def _shapes(v: dict[str, float]) -> list[str]:
    from course.present.widgets.shapes import shape_state

    s = shape_state(int(v["N"]), int(v["D"]), int(v["C"]))
    return [f"{g.name} must be {'×'.join(map(str, g.target))}" for g in (s.dW, s.dX)] + [_normal(s.note)]


def _softmax(v: dict[str, float]) -> list[str]:
    from course.present.widgets.softmax import CLASS_NAMES, softmax_state

    s = softmax_state([v[f"score {name}"] for name in CLASS_NAMES], 0, v["temperature T"])
    return [_normal(s.summary())]


def _dropout(v: dict[str, float]) -> list[str]:
    from course.present.widgets.dropout import dropout_state

    s = dropout_state(v["keep_prob"])
    return [f"{name} {got:.3f} {want:.3f}" for name, got, want in s.rows()]


def _batchnorm(v: dict[str, float]) -> list[str]:
    from course.present.widgets.batchnorm import batchnorm_state

    s = batchnorm_state(v["spread"], v["shift"], v["γ"], v["β"], v["ε"])
    return [*s.rows(), _normal(s.path_summary())]



def _two_layer(v: dict[str, float], chunks: int = 0) -> list[str]:
    from course.present.widgets.two_layer import two_layer_state

    s = two_layer_state(int(v["hidden units"]), v["learning rate"], v["L2 strength"], v["keep_prob"], chunks)
    return [s.summary()]


def _attention(v: dict[str, float]) -> list[str]:
    from course.present.widgets.attention import attention_state

    s = attention_state(v["temperature τ"], int(v["query position"]))
    return [_normal(s.summary())]


EXPECTED = {"chain_rule": _chain_rule, "staged": _staged, "shapes": _shapes, "softmax": _softmax,
            "dropout": _dropout, "two_layer": _two_layer, "batchnorm": _batchnorm, "attention": _attention}


# The two-layer widget starts again at step 0 when a slider moves; one click on
# "step" before each move makes sure the move changes the picture too.
def _step_once(widget, expected_for) -> None:
    before = displayed(widget)
    widget.locator("button.widget-button:text-is('step')").click()
    wait_for_update(widget, lambda v: expected_for(v, chunks=1), before)


def _train_then_pause(widget, expected_for) -> None:
    """Play trains chunk after chunk while the page stays live; after pause, the page shows that step's state."""
    from course.present.widgets.two_layer import STEPS_PER_CHUNK

    page = widget.page

    def shown_step() -> int:
        match = re.search(r"step (\d+):", _normal(displayed(widget)[0]))
        return int(match.group(1)) if match else -1

    before = displayed(widget)
    play_pause = widget.locator(".widget-play button").nth(0)  # then stop and repeat: stop would reset to step 0
    play_pause.click()
    waited = 0
    while shown_step() < 3 * STEPS_PER_CHUNK:
        if waited >= TRAIN_TIMEOUT_MS:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            widget.screenshot(path=str(SCREENSHOTS / "06_two_layer_net-training.png"))
            pytest.fail(f"after play the page still shows step {shown_step()}: {_normal(displayed(widget)[0])[:300]}")
        page.wait_for_timeout(200)
        waited += 200
    play_pause.click()  # pause
    # Ticks already sent before the pause still arrive: wait until the step stays put.
    last, stable = shown_step(), 0
    while stable < 5:
        page.wait_for_timeout(300)
        now = shown_step()
        stable, last = (stable + 1, last) if now == last else (0, now)
    text = _normal(displayed(widget)[0])
    expected = expected_for(slider_values(widget), chunks=last // STEPS_PER_CHUNK)
    assert all(e in text for e in expected), f"after pause the page shows {text[:300]}, expected {expected}"
    assert displayed(widget)[1] != before[1], "the picture did not change while training"


BEFORE_MOVE = {"two_layer": _step_once}
AFTER_SLIDERS = {"two_layer": _train_then_pause}


# The lessons are split over two files, every other lesson in each (this one and
# tests/test_browser_other_half.py): make test hands out whole files, so both workers run lessons at once.
def lessons_of_half(half: int) -> list:
    return published_lessons()[half::2]


# Module-scoped, not session-scoped: each file runs on one worker from start to end (make test hands out whole
# files), and a session fixture would hold its server and its Playwright loop until the whole run ends.
@pytest.fixture(scope="module")
def lab():
    server = start_lab(published_lessons())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    # One kernel slot per lesson, not per file: the lesson's kernel is the only one it runs, and it is shut
    # down before the slot is given back, so notebooks and the grading class wait for one lesson at most.
    with kernel_slots(1):
        context = browser.new_context(viewport={"width": 1280, "height": 1600})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        lab.delete_sessions()


def keyboard_move(page, slider) -> None:
    handle = slider.locator(".noUi-handle")
    handle.focus()
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")


def drag_move(page, slider) -> None:
    handle = slider.locator(".noUi-handle").bounding_box()
    track = slider.locator(".noUi-base").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    # Drag to the other half of the track, so the value must change.
    target = track["x"] + track["width"] * (0.3 if x > track["x"] + track["width"] / 2 else 0.7)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move((x + target) / 2, y, steps=3)
    page.mouse.move(target, y, steps=3)
    page.mouse.up()


def wait_for_update(widget, expected_for, before: tuple[str, str]) -> tuple[dict, list[str], tuple[str, str]]:
    """Wait until the page shows what the state function gives for the sliders' values, and a new picture."""
    page = widget.page
    deadline_ms, step_ms, waited = UPDATE_TIMEOUT_MS, 50, 0
    while True:
        values = slider_values(widget)
        expected = expected_for(values)
        now = displayed(widget)
        text, src = _normal(now[0]), now[1]
        if src != before[1] and all(e in text for e in expected):
            return values, expected, now
        if waited >= deadline_ms:
            missing = [e for e in expected if e not in text]
            pytest.fail(f"after the move the page does not show {missing} (sliders {values});"
                        f" picture changed: {src != before[1]}; page text: {text[:600]}")
        page.wait_for_timeout(step_ms)
        waited += step_ms


# What the course puts on the page: the rendered text and the outputs. The
# code editors are JupyterLab's own (its theme colours its syntax), and two
# controls are drawn by ipywidgets without a name a screen reader can say, which
# the course cannot change from Python: a slider's handle (role="slider", axe
# rule aria-input-field-name) and the icon-only buttons of a Play widget
# (button-name). The site names both (scripts/build_site.py); here they are
# left out of the check and listed in the printed report.
AXE_INCLUDE = f"{NOTEBOOK} :is(.jp-MarkdownOutput, .jp-OutputArea)"
AXE_UPSTREAM = (".noUi-handle", ".widget-play button")
# Space, not Enter, presses a button: in JupyterLab's command mode Enter opens the cell's editor.
KEY_FOR = {"slider": None, "select": None, "option": "Space", "toggle": "Space", "button": "Space"}


def operate_by_keyboard(page, widget, name: str) -> list[str]:
    """Tab from the widget's first control through all of them, changing each; the kinds of controls visited."""
    controls = widget.evaluate(f"w => ({CONTROLS_JS})(w).length")
    assert controls > 0, f"widget {name} has no control a keyboard can reach"
    widget.evaluate(f"w => ({CONTROLS_JS})(w)[0].focus()")  # the first control, as a Tab from the cell above reaches it
    visited, kinds = set(), []
    for _ in range(3 * controls):
        index = active_control(widget)
        if index < 0:
            break  # the focus left the widget: every control has had its turn
        visited.add(index)
        control = widget.evaluate_handle(f"(w, i) => ({CONTROLS_JS})(w)[i]", index)
        kind = control.evaluate(CONTROL_KIND_JS)
        kinds.append(kind)
        if kind in KEY_FOR:
            key = KEY_FOR[kind]
            if kind == "slider":
                at_max = control.evaluate("e => e.getAttribute('aria-valuenow') === e.getAttribute('aria-valuemax')")
                key = "ArrowLeft" if at_max else "ArrowRight"
            elif kind == "select":
                key = "ArrowUp" if control.evaluate("e => e.selectedIndex === e.options.length - 1") else "ArrowDown"
            before = displayed(widget)
            page.keyboard.press(key)
            deadline = UPDATE_TIMEOUT_MS
            while displayed(widget) == before:
                assert deadline > 0, f"{name}: pressing {key} on its {kind} (control {index}) changed nothing"
                page.wait_for_timeout(50)
                deadline -= 50
            if active_control(widget) != index:  # a control redrawn by its change may drop the focus
                control.evaluate("e => e.focus()")
        page.keyboard.press("Tab")
    assert visited == set(range(controls)), f"{name}: Tab reached controls {sorted(visited)} of {controls}"
    return kinds


@pytest.mark.parametrize("path", lessons_of_half(0), ids=lambda p: p.stem)
def test_lesson_runs_and_its_widgets_follow_the_sliders(lab, page, path):
    check_lesson(lab, page, path)


def check_lesson(lab, page, path) -> None:
    """Everything the module's docstring says, for one lesson."""
    open_notebook(page, lab, path)  # in the theme the lesson before left (a setting of the server): either works
    run_all_cells(page)
    assert error_outputs(page) == []

    names = widget_names(path)
    assert names, f"{path.name} has no widget cell"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        widget = page.locator(f".{widget_class(name)}")
        widget.wait_for(state="visible")
        widget.scroll_into_view_if_needed()
        expected_for = EXPECTED[name]
        sliders = widget.locator(".widget-slider")
        assert sliders.count() > 0, f"widget {name} shows no slider"
        for i in range(sliders.count()):
            slider = sliders.nth(i)
            for move in (keyboard_move, drag_move):
                if name in BEFORE_MOVE:
                    BEFORE_MOVE[name](widget, expected_for)
                before = displayed(widget)
                values_before = slider_values(widget)
                slider.scroll_into_view_if_needed()
                move(page, slider)
                values, _, after = wait_for_update(widget, expected_for, before)
                assert values != values_before, f"{move.__name__} did not move slider {i} of {name}"
                assert _normal(after[0]) != _normal(before[0]), "the numbers did not change"
        if name in AFTER_SLIDERS:
            AFTER_SLIDERS[name](widget, expected_for)
        operate_by_keyboard(page, widget, name)
    assert error_outputs(page) == []
    assert missing_alt(page) == [], "pictures without alt text"

    problems, report = [], []
    shown = page.evaluate("() => document.body.dataset.jpThemeName")
    for theme in sorted(THEMES, key=lambda t: t != shown):  # the one shown first: one switch of theme per lesson
        if theme != shown:
            set_theme(page, theme)
        short = theme.split()[-1].lower()
        for name in names:
            widget = page.locator(f".{widget_class(name)}")
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(SCREENSHOTS / f"{path.stem}-widget-{short}.png"))
        figure = page.locator(f"{NOTEBOOK} .jp-OutputArea img.gradflow-figure").first
        if figure.count():
            figure.scroll_into_view_if_needed()
            figure.screenshot(path=str(SCREENSHOTS / f"{path.stem}-figure-{short}.png"))
        found = run_axe(page, include=AXE_INCLUDE, exclude=AXE_UPSTREAM)
        left_out = page.evaluate("sel => document.querySelectorAll(sel).length", ", ".join(
            f"{NOTEBOOK} {s}:not([aria-label])" for s in AXE_UPSTREAM))
        report.append(f"{path.stem} {short}: {len(blocking(found))} serious/critical "
                      f"({', '.join(f'{v.impact} {v.rule} x{len(v.targets)}' for v in found) or 'no violations'});"
                      f" left out: {left_out} unnamed slider handles and Play buttons drawn by ipywidgets")
        problems += [f"{theme}: {v}" for v in blocking(found)]
    print("\n".join(report))
    assert not problems, "\n".join(problems)
