"""Text alternatives: figures shown with show_figure, circuits in words, widget pictures' alt text."""

from __future__ import annotations

import base64
import html
import re

import pytest

from conftest import LESSONS, notebooks_in, read

ALT = re.compile(r'<img[^>]* alt="([^"]*)"')


def alt_of(markup: str) -> str:
    match = ALT.search(markup)
    assert match, f"no <img alt=...> in {markup[:200]}"
    return html.unescape(match.group(1))


def widget_picture(box):
    from course.present.widgets.figure_view import PICTURE_CLASS

    stack = [box]
    while stack:
        w = stack.pop()
        if PICTURE_CLASS in getattr(w, "_dom_classes", ()):
            return w
        stack.extend(getattr(w, "children", ()))
    raise AssertionError("the widget has no picture")


def test_img_html_escapes_the_alt_and_refuses_an_empty_one():
    from course.present.figures import img_html
    from course.present.widgets.figure_view import figure_png
    from matplotlib.figure import Figure

    png = figure_png(Figure(figsize=(2, 1)), dpi=50)
    markup = img_html(png, 'a "quoted" <b> & more')
    assert alt_of(markup) == 'a "quoted" <b> & more'
    assert 'width="100" height="50"' in markup
    with pytest.raises(ValueError, match="text alternative"):
        img_html(png, "  ")


def test_show_figure_displays_html_with_alt_png_with_metadata_and_alt_as_plain_text(monkeypatch, close_figures):
    import IPython.display
    import matplotlib.pyplot as plt

    from course.present.figures import show_figure

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    show_figure(fig, alt="a rising line from (0, 0) to (1, 1)")
    (bundle,), kwargs = shown[0]
    assert kwargs == {"raw": True, "metadata": {"image/png": {"alt": "a rising line from (0, 0) to (1, 1)"}}}
    assert bundle["text/plain"] == "a rising line from (0, 0) to (1, 1)"
    assert alt_of(bundle["text/html"]) == bundle["text/plain"]
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert bundle["image/png"] in bundle["text/html"]
    assert not plt.get_fignums(), "the figure must be closed, or the inline backend shows it a second time"


def test_the_same_figure_gives_the_same_bytes(close_figures):
    # Strict nbval compares the text/html, which holds the PNG.
    import matplotlib.pyplot as plt

    from course.present.figures import figure_png

    def draw():
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [0, 1, 4], "o-", label="x²")
        ax.legend()
        return figure_png(fig)

    assert draw() == draw()


def test_describe_circuit_reads_every_value_and_gradient():
    from course.compute.graph import Node
    from course.present.circuit import describe_circuit

    x, y, z = Node(-2.0, "x"), Node(5.0, "y"), Node(-4.0, "z")
    f = ((x + y).named("q") * z).named("f")
    f.backward()
    text = describe_circuit(f, "f = (x + y) · z")
    for part in ("x = -2", "y = 5", "q = x + y = 3", "f = q × z = -12", "on x -4", "on y -4", "on z 3"):
        assert part in text
    # Only what the picture shows: the staged widget reveals numbers step by step.
    partial = describe_circuit(f, values_shown={"x", "y"}, gradients_shown=set())
    assert "x = -2" in partial and "q = " not in partial and "No gradients shown yet." in partial


def test_an_unnamed_gate_is_spoken_as_its_expression():
    from course.compute.graph import Node
    from course.present.circuit import describe_circuit

    w, x, b = Node(2.0, "w"), Node(-1.0, "x"), Node(0.5, "b")
    f = (w * x + b).named("f")
    f.backward()
    text = describe_circuit(f)
    assert "w × x = -2" in text and "f = (w × x) + b = -1.5" in text and "on (w × x) 1" in text


def _change_and_compare(box, change) -> tuple[str, str]:
    picture = widget_picture(box)
    before = alt_of(picture.value)
    change()
    return before, alt_of(picture.value)


def test_chain_rule_picture_alt_follows_the_sliders():
    from course.present.widgets.chain_rule import chain_rule_widget

    box = chain_rule_widget()
    x_slider = box.children[1].children[0]
    before, after = _change_and_compare(box, lambda: setattr(x_slider, "value", 1.0))
    assert "x = -2" in before and "f = q × z = -12" in before
    assert "x = 1;" in after and "f = q × z = -24" in after


def test_staged_picture_alt_follows_the_step():
    from course.present.widgets.staged import staged_widget

    box = staged_widget()
    stepper = box.children[1].children[3]
    before, after = _change_and_compare(box, lambda: setattr(stepper, "value", 9))
    assert before.startswith("Step 0 of 16") and "No gradients" in before
    assert after.startswith("Step 9 of 16: Backward stage 8 of 8") and "on f 1" in after


def test_shapes_picture_alt_follows_the_sliders():
    from course.present.widgets.shapes import shapes_widget

    box = shapes_widget(n=2, d=4, c=3)
    n_slider = box.children[0].children[0]
    before, after = _change_and_compare(box, lambda: setattr(n_slider, "value", 5))
    assert "X (2×4) · W (4×3) = Y (2×3)" in before
    assert "X (5×4) · W (4×3) = Y (5×3)" in after and "Wᵀ (3×4)" in after


def test_softmax_picture_alt_follows_the_sliders():
    from course.present.widgets.softmax import softmax_state, softmax_widget

    box = softmax_widget()
    temperature = box.children[3]
    before, after = _change_and_compare(box, lambda: setattr(temperature, "value", 2.0))
    s = softmax_state([2.0, 1.0, -1.0, 0.5], 0, 2.0)
    assert "temperature 1." in before
    assert f"cat {s.probabilities[0]:.2f}" in after and f"Loss = -log P[correct] = {s.loss:.3f} at temperature 2." in after
    assert "the correct class, cat, has hatched bars" in after


def test_dropout_picture_alt_follows_the_slider():
    from course.present.widgets.dropout import dropout_state, dropout_widget

    box = dropout_widget()
    slider = box.children[0].children[0]
    before, after = _change_and_compare(box, lambda: setattr(slider, "value", 0.3))
    s = dropout_state(0.3)
    assert "keep_prob = 0.80" in before
    assert f"{int(s.mask.sum())} of 1152 kept" in after and "keep_prob = 0.30" in after


@pytest.mark.parametrize("path", notebooks_in(LESSONS), ids=lambda p: p.stem)
def test_every_figure_in_a_lesson_has_alt_text(path):
    """No bare image/png output: each one came through show_figure (alt in HTML, metadata and text)."""
    for k, cell in enumerate(read(path).cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            where = f"{path.name} cell {k}"
            alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
            assert len(alt) > 40, f"{where}: a figure without a useful alt text: {alt!r}"
            assert "text/html" in data and alt_of(data["text/html"]) == alt, where
            assert data["text/plain"] == alt, where
            assert re.search(r"\d", alt), f"{where}: the alt text gives no number: {alt!r}"


def test_two_layer_picture_alt_follows_training():
    import ipywidgets as widgets

    from course.present.widgets.two_layer import two_layer_state, two_layer_widget

    box = two_layer_widget(hidden=20)
    step = next(w for w in box.children[2].children if isinstance(w, widgets.Button) and w.description == "step")
    before, after = _change_and_compare(box, step.click)
    s = two_layer_state(hidden=20, chunks=1)
    assert "20 hidden units" in before and "no training yet" in before
    assert f"{100 * s.accuracy:.1f} % of them" in after and f"is {s.loss:.3f} after 10 steps" in after
    assert "one shape per class" in after


def test_batchnorm_picture_alt_follows_the_sliders():
    from course.present.widgets.batchnorm import batchnorm_state, batchnorm_widget

    box = batchnorm_widget()
    spread = box.children[0].children[0]
    before, after = _change_and_compare(box, lambda: setattr(spread, "value", 0.5))
    assert "feature 1 (solid) mean -1.500, standard deviation 0.500" in before
    assert "feature 1 (solid) mean -1.500, standard deviation 0.250" in after
    s = batchnorm_state(spread=0.5)
    assert f"{float(abs(s.paths['direct']).sum()):.3f} direct" in after
