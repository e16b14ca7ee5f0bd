"""Circuit pictures: deterministic layout, left to right by depth, numbers on wires."""

import pytest

from course.compute.graph import Node
from course.present.circuit import CircuitPicture, circuit_layout, draw_circuit


def compound():
    x, y, z = Node(-2.0, "x"), Node(5.0, "y"), Node(-4.0, "z")
    f = ((x + y).named("q") * z).named("f")
    f.backward()
    return f


def test_layout_is_the_same_on_every_build():
    a, b = circuit_layout(compound()), circuit_layout(compound())
    assert a.names == b.names == ["x", "y", "q", "z", "f"]
    assert a.positions == b.positions


def test_inputs_on_the_left_output_on_the_right():
    layout = circuit_layout(compound())
    x = dict(zip(layout.names, (p[0] for p in layout.positions)))
    assert x["x"] == x["y"] == x["z"] < x["q"] < x["f"]


def test_nodes_of_one_column_do_not_overlap():
    a, b = Node(1.0, "a"), Node(2.0, "b")
    f = ((a * b).named("p") + (a + b).named("s") + a.max(b).named("m")).named("f")
    layout = circuit_layout(f)
    columns = {}
    for x, y in layout.positions:
        columns.setdefault(x, []).append(y)
    for ys in columns.values():
        ys.sort()
        assert all(b - a >= 1.0 - 1e-9 for a, b in zip(ys, ys[1:]))


def test_one_wire_per_input_plus_the_output():
    layout = circuit_layout(compound())
    assert len(layout.wires) == 4 + 1
    assert layout.wires[-1].target == -1


def texts(picture):
    return [t.get_text() for t in picture.value_texts], [t.get_text() for t in picture.gradient_texts]


def test_values_above_and_gradients_below_each_wire(close_figures):
    picture = CircuitPicture(compound())
    values, grads = texts(picture)
    # wires in order: x->q, y->q, q->f, z->f, f->out
    assert values == ["-2.000", "5.000", "3.000", "-4.000", "-12.000"]
    assert grads == ["-4.000", "-4.000", "-4.000", "3.000", "1.000"]


def test_update_changes_only_the_numbers(close_figures):
    picture = CircuitPicture(compound())
    x, y, z = Node(1.0, "x"), Node(2.0, "y"), Node(3.0, "z")
    f = ((x + y).named("q") * z).named("f")
    f.backward()
    picture.update(f, highlight={"q"}, gradients_shown={"f"})
    values, grads = texts(picture)
    assert values == ["1.000", "2.000", "3.000", "3.000", "9.000"]
    assert grads == ["", "", "", "", "1.000"]
    widths = [s.get_linewidth() for s in picture.shapes]
    assert widths[picture.layout.names.index("q")] > widths[0]


def test_update_refuses_a_graph_of_another_shape(close_figures):
    picture = CircuitPicture(compound())
    with pytest.raises(ValueError, match="same shape"):
        picture.update(Node(1.0, "x") * Node(2.0, "y"))


def test_no_negative_zero_in_labels(close_figures):
    x = Node(0.0, "x")
    f = (x * -1.0).named("f")
    f.backward()
    values, _ = texts(CircuitPicture(f))
    assert "-0.000" not in values


def test_draw_circuit_returns_a_figure(close_figures):
    fig = draw_circuit(compound(), title="f")
    assert fig.axes and fig.axes[0].get_title() == "f"


# --- No text covers another text or a node, in every circuit the lessons draw ---

def lesson_circuits():
    """(name, root) for every graph a lesson draws: the chain-rule widget's
    expressions, the neuron, and the staged lesson graph."""
    from course.compute.staged import lesson_graph
    from course.present.widgets.chain_rule import EXPRESSIONS, chain_rule_state

    graphs = [(f"chain rule {e}", chain_rule_state(e, *point).root)
              for e in EXPRESSIONS for point in [(-2.0, 5.0, -4.0), (-4.5, -5.0, -3.5)]]
    w0, x0, w1, x1, w2 = (Node(v, n) for v, n in [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"),
                                                   (-3.0, "w2")])
    neuron = (w0 * x0 + w1 * x1 + w2).named("dot").sigmoid().named("f")
    neuron.backward()
    graphs.append(("neuron", neuron))
    for point in [(3.0, -4.0), (-4.5, -5.0)]:
        staged, _, _ = lesson_graph(*point)
        staged.backward()
        graphs.append((f"staged {point}", staged))
    return graphs


def overlaps(picture):
    """Pairs of drawn things whose bounding boxes (in pixels) intersect."""
    figure = picture.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ax = picture.ax
    texts = [t for t in ax.texts if t.get_text()]
    # Each text with a margin of 2 pixels: texts that touch are as hard to read as texts that overlap.
    boxes = [(f"text {t.get_text()!r}", t.get_window_extent(renderer).padded(2), t) for t in texts]
    shapes = [(f"node {name}", s.get_window_extent(renderer))
              for name, s in zip(picture.layout.names, picture.shapes)]
    found = []
    for i, (a, box_a, text_a) in enumerate(boxes):
        for b, box_b, _ in boxes[i + 1:]:
            if box_a.overlaps(box_b):
                found.append((a, b))
        if text_a in picture.number_texts:  # a gate's own symbol and name sit on or next to it
            found += [(a, s) for s, box_s in shapes if box_a.overlaps(box_s)]
    return found


@pytest.mark.parametrize("name, root", lesson_circuits(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_text_overlaps_another_text_or_a_node(name, root, close_figures):
    picture = CircuitPicture(root, title=name)
    assert overlaps(picture) == []


# --- Forks: each branch carries its own share, the node their sum -------------------

def test_each_branch_of_a_fork_carries_its_own_share_and_the_node_their_sum(close_figures):
    from course.compute.staged import lesson_graph

    f, x, y = lesson_graph(3.0, -4.0)
    f.backward()
    picture = CircuitPicture(f)
    layout = picture.layout
    for node in (x, y):
        i = layout.index(node)
        branches = [k for k, w in enumerate(layout.wires) if w.source == i]
        assert len(branches) > 1
        shares = [layout.nodes[layout.wires[k].target].shares()[layout.wires[k].slot] for k in branches]
        shown = [picture.gradient_texts[k].get_text() for k in branches]
        assert shown == [f"{s:.3f}" for s in shares]
        assert len(set(shown)) == len(shown)  # distinct shares, not the total repeated
        assert picture.sum_texts[i].get_text() == f"Σ {node.grad:.3f}"
        assert sum(shares) == pytest.approx(node.grad)


def test_a_branch_shows_its_share_only_once_its_consumer_has_sent_it(close_figures):
    from course.compute.staged import lesson_graph

    f, x, _ = lesson_graph(3.0, -4.0)
    f.backward()
    picture = CircuitPicture(f)
    picture.update(f, passed_back={"xpy"})
    i = picture.layout.index(x)
    shown = {picture.layout.names[w.target]: picture.gradient_texts[k].get_text()
             for k, w in enumerate(picture.layout.wires) if w.source == i}
    assert shown["xpy"] != "" and shown["num"] == shown["sigx"] == ""


# --- Wire numbers are not crossed by other wires ---------------------------------------

def crossings(picture):
    """(number text, wire) pairs where a wire other than the text's own runs through it."""
    figure = picture.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    to_pixels = picture.ax.transData.transform
    found = []
    own = {id(t): k for k, t in enumerate(picture.value_texts)}
    own.update({id(t): k for k, t in enumerate(picture.gradient_texts)})
    for text in picture.number_texts:
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        for k, (x0, y0, x1, y1) in enumerate(picture.layout.segments):
            if own.get(id(text)) == k:
                continue
            (px0, py0), (px1, py1) = to_pixels([(x0, y0), (x1, y1)])
            for step in range(101):
                t = step / 100
                if box.contains(px0 + t * (px1 - px0), py0 + t * (py1 - py0)):
                    found.append((text.get_text(), picture.layout.names[picture.layout.wires[k].source]))
                    break
    return found


@pytest.mark.parametrize("name, root", lesson_circuits(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_wire_runs_through_a_wire_s_numbers(name, root, close_figures):
    assert crossings(CircuitPicture(root, title=name)) == []
