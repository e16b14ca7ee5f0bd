"""The live session end to end: the instructor's page in chromium, two learners' check cells in real kernels.

One learner passes ``01.mul_gate``, the other swaps the multiply gate's inputs
(the misconception ``order``) and has a name made of markup; both show on the
page, the misconception is counted with its hint, the name is shown as text.
Then the page is checked with axe-core and used with the keyboard alone
(concept selector, projector mode). A screenshot goes to
build/screenshots/session.png (docs/img/session.png is made from it).

Like tests/test_browser.py these run only when GRADFLOW_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from a11y import blocking, run_axe
from conftest import ROOT
from kernels import START_TIMEOUT, kernel_slots, patiently
from lab_browser import free_port, launch_browser, require_browser_or_skip

require_browser_or_skip()

SCREENSHOTS = ROOT / "build" / "screenshots"
HOSTILE = 'Grace <img src=x onerror="window.p=1">'
RIGHT = "def mul_backward(x, y, dout):\n    return y * dout, x * dout\n"
SWAPPED = "def mul_backward(x, y, dout):\n    return x * dout, y * dout\n"
WAIT_MS = 60_000  # "within seconds" on a quiet machine; a loaded one may take longer, which is not a failure


def _bench():
    spec = importlib.util.spec_from_file_location("bench_session", ROOT / "scripts" / "bench_session.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_session"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = _bench().Server(tmp_path_factory.mktemp("session") / "session.sqlite", free_port())
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        # bypass_csp: axe-core is injected as an inline script, which the page's policy (rightly) refuses.
        tab = browser.new_page(viewport={"width": 1200, "height": 760}, bypass_csp=True)
        tab.goto(f"{server.url}{server.teach}?concept=01_chain_rule")
        tab.wait_for_function("document.getElementById('status').textContent.startsWith('Live')", timeout=WAIT_MS)
        yield tab
        browser.close()


def start_kernel():
    from jupyter_client.manager import KernelManager

    box = {}

    def start():
        box["km"] = KernelManager(kernel_name="python3")
        box["km"].start_kernel(cwd=str(ROOT), stderr=subprocess.DEVNULL)
        box["kc"] = box["km"].client()
        box["kc"].start_channels()
        box["kc"].wait_for_ready(timeout=START_TIMEOUT)
        return box["km"], box["kc"]

    def stop(error):
        if "kc" in box:
            box.pop("kc").stop_channels()
        if "km" in box and box["km"].has_kernel:
            box.pop("km").shutdown_kernel(now=True)

    return patiently(start, stop, "a learner's kernel")


def run_cell(kc, code: str) -> str:
    """Run ``code`` as a cell; its printed text and error lines."""
    out = []

    def hook(message):
        content = message["content"]
        if message["msg_type"] == "stream":
            out.append(content["text"])
        elif message["msg_type"] == "error":
            out.append("\n".join(content["traceback"]))

    kc.execute_interactive(code, timeout=300, output_hook=hook)
    return "".join(out)


def test_two_learners_checks_appear_on_the_page_with_the_misconception_counted(server, page):
    with kernel_slots(2):
        learners = [start_kernel(), start_kernel()]
        try:
            said = []
            for (km, kc), name, answer in zip(learners, ["Ada", HOSTILE], [RIGHT, SWAPPED]):
                said.append(run_cell(kc, f"import course\ncourse.join({server.url!r}, {server.code!r}, {name!r})"))
                run_cell(kc, answer)
                said.append(run_cell(kc, 'from course import check\ncheck("01.mul_gate", mul_backward)'))
        finally:
            for km, kc in learners:
                kc.stop_channels()
                km.shutdown_kernel(now=True)
    assert "Joined the live session as Ada" in said[0] and "✔ 01.mul_gate" in said[1]
    assert "Joined the live session as Grace" in said[2] and "01.mul_gate is not right yet" in said[3]

    page.wait_for_function("""() => {
        const rows = [...document.querySelectorAll('#grid tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' '));
        return rows.some(r => r.startsWith('Ada ✔')) && rows.some(r => r.includes('✘ order'));
    }""", timeout=WAIT_MS)
    # textContent: what a screen reader says too (the ✔ has the word "passed" beside it, visually hidden).
    rows = page.eval_on_selector_all("#grid tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert [row[:2] for row in rows] == [["Ada", "✔ passed"], [HOSTILE, "✘ order"]]
    assert page.locator("#grid tfoot td").first.inner_text() == "1 of 2"
    mistakes = page.locator("#mistakes li").all_inner_texts()
    assert mistakes[0].startswith("1 learner · 01.mul_gate · order: The multiply gate swaps its inputs")
    # The name is text: no element was made from it and nothing in it ran.
    assert page.evaluate("window.p") is None and page.locator("#grid img").count() == 0


def test_no_serious_accessibility_violation(page):
    assert blocking(run_axe(page)) == []


def test_the_keyboard_reaches_the_concept_and_the_projector_mode(server, page):
    page.locator("body").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "concept"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "projector"
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('projector').getAttribute('aria-pressed') === 'true'")
    names = page.locator("#grid tbody th").all_inner_texts()
    assert names == ["Learner 1", "Learner 2"] and "Ada" not in page.locator("main").inner_text()
    assert blocking(run_axe(page)) == []
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('projector').getAttribute('aria-pressed') === 'false'")
    # The selector changes the concept: its exercises become the columns.
    page.locator("#concept").focus()
    page.keyboard.press("ArrowDown")
    from course.session.catalog import catalog

    second = catalog()["concepts"][1]["exercises"][0]["title"]
    page.wait_for_function("t => document.querySelector('#grid thead').textContent.includes(t)", arg=second)
    page.locator("#concept").select_option("01_chain_rule")


def test_a_screenshot_of_a_room(server, page):
    """A few more learners (posted as their kernels would), for the picture in docs/instructor.md."""
    from course.session.client import new_key, post

    room = [("Alan", {"01.mul_gate": "ok", "01.add_gate": "ok", "01.max_gate": "tie"}),
            ("Barbara", {"01.mul_gate": "order", "01.add_gate": "ok"}),
            ("Claude", {"01.mul_gate": "ok", "01.add_gate": "wrong_value", "01.max_gate": "tie"}),
            ("Edsger", {"01.mul_gate": "ok", "01.add_gate": "ok", "01.max_gate": "ok", "01.compound": "upstream"}),
            ("Frances", {"01.mul_gate": "order"}),
            ("Katherine", {"01.mul_gate": "ok", "01.add_gate": "ok", "01.max_gate": "tie"})]
    for name, results in room:
        for exercise, code in results.items():
            status, _ = post(server.url, server.code, "/api/events",
                             {"key": new_key(), "name": name, "exercise": exercise, "passed": code == "ok",
                              "code": code, "time": 1.0}, timeout=10)
            assert status == 200
    page.wait_for_function("document.querySelectorAll('#grid tbody tr').length === 8", timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('#mistakes li').innerText.startsWith('3 learners')",
                           timeout=WAIT_MS)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1200  # nothing sticks out sideways
    page.locator("#projector").click()  # the picture shows what the room sees: no names
    page.evaluate("document.activeElement.blur()")
    page.wait_for_function("document.querySelector('#grid tbody th').textContent === 'Learner 1'")
    page.screenshot(path=str(SCREENSHOTS / "session.png"), full_page=True)
    page.locator("#projector").click()
