"""Concept 02, staged computation: the staged engine, the widget's state, the
exercises' references (against numerical gradients) and their hints (each one
triggered by a deliberately wrong answer)."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course.assess.check import DEFAULT_HIDDEN_SEED
from course.assess.concepts import c02_staged_computation as c02
from course.assess.diagnose import evaluate, hidden_cases
from course.assess.hints import CATEGORIES
from course.assess.registry import exercises_of, get_exercise
from course.compute import local_graph, order_check
from course.compute.gradcheck import compare_gradients, numerical_gradient
from course.compute.graph import Node, sigmoid, topological_order
from course.compute.local_graph import (
    GraphSpec,
    build_graph,
    depth_of,
    evaluate_graph,
    golden_rule_backward,
    leaf_gradients,
    leaves_of,
)
from course.compute.staged import LESSON, lesson_function, lesson_graph
from course.present.widgets.staged import LAST_STEP, StagedPicture, staged_state, state_table_html

ROOT = Path(__file__).resolve().parent.parent
SEED = DEFAULT_HIDDEN_SEED
TOL = 1e-6  # relative error allowed between an analytic and a numerical gradient


def numeric(f, *point):
    """Central differences of a scalar function of scalars, at ``point``."""
    return numerical_gradient(lambda v: f(*v), np.array(point, dtype=np.float64))


def assert_matches_numeric(analytic, f, *point, name="gradient"):
    result = compare_gradients(np.atleast_1d(np.asarray(analytic, dtype=np.float64)), numeric(f, *point),
                               name=name, tolerance=TOL)
    assert result.passed, result.summary()


# ----- the lesson's function ---------------------------------------------------------------

def test_worked_numbers_of_the_lesson():
    values = LESSON.forward(3.0, -4.0)
    dx, dy = LESSON.gradients(3.0, -4.0)
    assert round(values["f"], 4) == 1.5456
    assert round(dx, 4) == 2.0596
    assert round(dy, 4) == 1.5922


def test_staged_lesson_function_matches_its_formula_and_numerical_gradient():
    for x, y in [(3.0, -4.0), (-1.5, 2.0), (0.5, 0.25)]:
        assert LESSON(x, y) == pytest.approx(lesson_function(x, y), rel=1e-12)
        assert_matches_numeric(LESSON.gradients(x, y), lesson_function, x, y)


def test_lesson_graph_agrees_with_the_stages():
    f, x, y = lesson_graph(3.0, -4.0)
    f.backward()
    assert f.value == pytest.approx(LESSON(3.0, -4.0))
    assert (x.grad, y.grad) == pytest.approx(LESSON.gradients(3.0, -4.0))


def test_overwriting_at_forks_gives_a_different_wrong_gradient():
    right = LESSON.gradients(3.0, -4.0)
    wrong = LESSON.gradients(3.0, -4.0, overwrite=True)
    assert abs(wrong[0] - right[0]) > 1.0 and abs(wrong[1] - right[1]) > 1.0
    # With "=" only the last share written survives: for x that is the one from num = x + sigy.
    assert wrong[0] == pytest.approx(LESSON.contributions(3.0, -4.0)["x"][-1])


def test_the_lesson_forks_are_the_inputs():
    assert LESSON.forks() == {"x": 3, "y": 2}


def test_worked_cell_of_the_lesson_prints_the_syllabus_numbers():
    nb = nbformat.read(ROOT / "notebooks" / "02_staged_computation.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("gradflow", {}).get("worked") == "staged"]
    assert len(cells) == 1
    text = "".join(o.get("text", "") for o in cells[0].outputs)
    for number in ("1.5456", "2.0596", "1.5922"):
        assert number in text


# ----- the widget's state -------------------------------------------------------------------

def test_state_after_all_steps_has_the_numerical_gradient():
    state = staged_state(3.0, -4.0, LAST_STEP)
    assert_matches_numeric((state.dx, state.dy), lesson_function, 3.0, -4.0)
    assert state.f == pytest.approx(1.5456, abs=1e-4)
    assert (state.dx, state.dy) == (state.correct_dx, state.correct_dy)


def test_overwrite_state_is_wrong_at_the_lesson_point():
    state = staged_state(3.0, -4.0, LAST_STEP, overwrite=True)
    good = numeric(lesson_function, 3.0, -4.0)
    assert not np.allclose([state.dx, state.dy], good, rtol=1e-3)
    assert (state.correct_dx, state.correct_dy) == pytest.approx(tuple(good), rel=1e-6)
    # The table shows a single share for x: the earlier ones were lost.
    assert len(state.shares["x"]) == 1


def test_each_step_reveals_exactly_one_more_stage():
    names = [s.name for s in LESSON.stages]
    expected = names + names[::-1]
    previous = staged_state(3.0, -4.0, 0)
    assert previous.stage is None and set(previous.values) == {"x", "y"} and not previous.gradients
    for step in range(1, LAST_STEP + 1):
        state = staged_state(3.0, -4.0, step)
        assert state.stage == expected[step - 1]
        new_values = set(state.values) - set(previous.values)
        if step <= len(names):
            assert new_values == {state.stage} and not state.gradients
        else:
            stage = LESSON.stage(state.stage)
            assert not new_values
            changed = {k for k in state.gradients if state.gradients[k] != previous.gradients.get(k)}
            assert changed <= set(stage.inputs) | {"f"}
            assert set(state.gradients) == set(previous.gradients) | set(stage.inputs) | {"f"}
        previous = state


def test_forks_show_every_share_in_the_table():
    state = staged_state(3.0, -4.0, LAST_STEP)
    assert len(state.shares["x"]) == 3 and len(state.shares["y"]) == 2
    assert sum(state.shares["x"]) == pytest.approx(state.dx)
    html = state_table_html(state)
    assert "2.060" in html and "1.592" in html


def test_step_out_of_range_is_refused():
    with pytest.raises(ValueError):
        staged_state(3.0, -4.0, LAST_STEP + 1)


def test_picture_renders_every_step():
    picture = StagedPicture(staged_state(3.0, -4.0, 0))
    sizes = set()
    for step in (0, 5, LAST_STEP):
        picture.show(staged_state(1.0, 2.0, step, overwrite=step == LAST_STEP))
        png = picture.png()
        assert png.startswith(b"\x89PNG")
        sizes.add(len(png))
    assert len(sizes) == 3  # the pictures differ from step to step


# ----- the exercises: references against numerical gradients ---------------------------------

def test_concept_has_five_exercises_with_known_hint_codes():
    exercises = exercises_of("02_staged_computation")
    assert len(exercises) >= 5
    for ex in exercises:
        assert ex.id.startswith("02.")
        for m in ex.misconceptions:
            assert m.code in CATEGORIES, (ex.id, m.code)


def g_function(a, b):
    return (a * b + sigmoid(b)) / (1.0 + (a - b) ** 2)


def test_staged_backward_reference_is_the_numerical_gradient():
    for case in list(c02.STAGED.public) + hidden_cases(c02.STAGED, SEED)[:8]:
        a, b, dg = case.args
        da, db = c02.staged_backward(a, b, dg)
        assert_matches_numeric((da / dg, db / dg), g_function, a, b, name=case.note)
        assert (da, db) == pytest.approx(c02.STAGED_G.gradients(a, b, upstream=dg))
        assert c02.STAGED_G(a, b) == pytest.approx(g_function(a, b))


def test_silu_reference_is_the_numerical_gradient():
    for x in (-3.0, -0.5, 1.5, 4.0):
        assert_matches_numeric(c02.silu_backward(x, 1.0), lambda v: v * sigmoid(v), x)
        assert c02.silu_backward(x, 2.5) == pytest.approx(2.5 * c02.SILU.gradients(x)[0])


def test_gated_reference_is_the_numerical_gradient():
    def out(x, u, w, b):
        return c02.gated_forward(x, u, w, b)[0]

    for x, u, w, b in [(0.5, -1.2, 2.0, 0.3), (-1.0, 0.8, -0.5, 0.1), (1.7, 2.2, -1.1, -0.6)]:
        _, cache = c02.gated_forward(x, u, w, b)
        assert_matches_numeric(c02.gated_backward(1.0, cache), out, x, u, w, b)


def h_function(x, y):
    q = x * y
    return q * sigmoid(q) + x


def given_buggy_backward():
    """The backward pass with its bugs left in, exactly as exercises/02 gives it to the learner."""
    nb = nbformat.read(ROOT / "exercises" / "02_staged_computation.ipynb", as_version=4)
    source, = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("def buggy_backward(")]
    namespace = {"sigmoid": sigmoid}
    exec(source.split("\n\n\n")[0], namespace)  # the function alone, not the cell's comparison after it
    return namespace["buggy_backward"]


def test_fixed_backward_is_the_numerical_gradient_and_the_buggy_one_is_not():
    buggy_backward = given_buggy_backward()
    for x, y in [(1.0, 2.0), (-1.5, 0.5), (0.7, -2.2)]:
        assert_matches_numeric(c02.fixed_backward(x, y, 1.0), h_function, x, y)
        assert c02.fixed_backward(x, y, 1.0) == pytest.approx(c02.FIXABLE.gradients(x, y))
        assert not np.allclose(buggy_backward(x, y, 1.0), numeric(h_function, x, y), rtol=1e-3)
        assert buggy_backward(x, y, 1.0) == pytest.approx(c02.FIXABLE.gradients(x, y, overwrite=True))


def graph_numeric(spec: GraphSpec, which=None) -> np.ndarray:
    leaves = np.array(spec.leaves, dtype=np.float64)
    if which is None:
        return numerical_gradient(lambda v: evaluate_graph(spec, v), leaves)
    grads = []
    for i in which:  # a few leaves of a big graph: each probe rebuilds the whole graph
        def along(t, i=i):
            v = leaves.copy()
            v[i] = t[0]
            return evaluate_graph(spec, v)
        grads.append(numerical_gradient(along, np.array([leaves[i]]))[0])
    return np.array(grads)


def test_graph_reference_is_the_numerical_gradient_and_node_backward():
    rng = np.random.default_rng(7)
    specs = list(c02.PUBLIC_GRAPHS) + [local_graph.random_graph(rng, 4, 20) for _ in range(5)]
    for spec in specs:
        ours = leaf_gradients(spec)
        result = compare_gradients(ours, graph_numeric(spec), name=spec.note, tolerance=1e-5)
        assert result.passed, result.summary()
        root, leaves = build_graph(spec, node_type=Node)
        root.backward()
        assert ours == pytest.approx([leaf.grad for leaf in leaves], rel=1e-12)


def test_graph_reference_on_deep_and_wide_graphs():
    rng = np.random.default_rng(3)
    for spec in (local_graph.deep_chain(rng), local_graph.wide_graph(rng)):
        ours = leaf_gradients(spec)
        probe = [0, 1, len(spec.leaves) // 2, len(spec.leaves) - 1]
        result = compare_gradients(ours[probe], graph_numeric(spec, probe), name=spec.note, tolerance=1e-5)
        assert result.passed, result.summary()
    assert depth_of(build_graph(local_graph.deep_chain(rng))[0]) == local_graph.DEEP


def test_every_reference_passes_its_own_check():
    for ex in exercises_of("02_staged_computation"):
        # 02.topo_order's reference judges an order (its cases carry the nodes); the answer is the order itself.
        answer = topological_order if ex.id == "02.topo_order" else ex.reference
        verdict = evaluate(ex, answer, SEED)
        assert verdict.passed, (ex.id, verdict.message)


# ----- 02.topo_order: any order that respects the inputs, and the ways to miss it -------------

def stack_order(root, seen_set=True, on_leave=True, last_input_first=False):
    """An order written as a learner would: a stack of (node, index of the next input)."""
    order, seen, stack = [], {id(root)}, [[root, 0]]
    if not on_leave:
        order.append(root)
    while stack:
        top = stack[-1]
        node, k = top
        if k < len(node.inputs):
            top[1] += 1
            child = node.inputs[-1 - k if last_input_first else k]
            if not seen_set or id(child) not in seen:
                seen.add(id(child))
                if not on_leave:
                    order.append(child)
                stack.append([child, 0])
        else:
            stack.pop()
            if on_leave:
                order.append(node)
    return order


def kahn_order(root):
    """Another right answer: count each node's consumers, start from the root, emit when none is left."""
    nodes, seen, todo = [], {id(root)}, [root]
    while todo:
        node = todo.pop()
        nodes.append(node)
        for child in node.inputs:
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    waiting = {id(n): 0 for n in nodes}
    for n in nodes:
        for child in n.inputs:
            waiting[id(child)] += 1
    ready, reverse = [root], []
    while ready:
        node = ready.pop()
        reverse.append(node)
        for child in node.inputs:
            waiting[id(child)] -= 1
            if waiting[id(child)] == 0:
                ready.append(child)
    return reverse[::-1]


recursive_order = order_check.recursive  # the textbook recursion, as a learner writes it


def test_any_order_that_respects_the_inputs_passes():
    assert evaluate(c02.TOPO, stack_order, SEED).passed
    assert evaluate(c02.TOPO, kahn_order, SEED).passed
    # Inputs visited last to first: another valid order, not the course's.
    assert evaluate(c02.TOPO, lambda root: stack_order(root, last_input_first=True), SEED).passed


@pytest.mark.parametrize("answer, code, words", [
    (lambda root: stack_order(root)[::-1], "topo_order", "reverse"),
    (lambda root: stack_order(root, on_leave=False), "topo_order", "reverse"),
    (lambda root: stack_order(root, on_leave=False)[::-1], "topo_order", "walk leaves it"),
    (order_check.breadth_first, "topo_order", ""),  # root first on some graphs, an input late on others
    (lambda root: stack_order(root, seen_set=False), "graph_walk", "more than once"),
    (lambda root: stack_order(root)[:-1], "graph_walk", "leaves out"),
    (lambda root: [n for n in stack_order(root) if n.inputs], "graph_walk", "leaves out"),
    (recursive_order, "recursion", "RecursionError"),
    (lambda root: [n.value for n in stack_order(root)], "dtype", "not the graph's nodes"),
    (lambda root: (n for n in stack_order(root)), "dtype", "not a list"),
    (lambda root: None, "none", "return"),
])
def test_each_wrong_order_gets_its_own_hint(answer, code, words):
    got, message = verdict_code("02.topo_order", answer)
    assert got == code and words in message, message


def test_order_cases_reach_the_edges():
    cases = list(c02.TOPO.public) + hidden_cases(c02.TOPO, SEED)
    roots = [c.args[0] for c in cases]
    assert any(not r.inputs for r in roots)  # a lone leaf
    assert any(r.inputs and r.inputs[0].inputs and r.inputs[0].inputs[0] is r.inputs[0].inputs[1] for r in roots)
    assert max(depth_of(r) for r in roots) == local_graph.DEEP
    assert max(len(c.args[1]) for c in cases) > 3000
    for case in cases:  # the nodes travel shuffled: on a large graph their order is no topological order
        root, nodes = case.args
        assert len(nodes) < 100 or order_check.order_outcome(nodes, nodes) != order_check.OK


# ----- the hints: each one triggered by a wrong answer ---------------------------------------

@pytest.mark.parametrize("exercise_id", ["02.staged_backward", "02.fork", "02.cached_backward", "02.fix_overwrite"])
def test_each_known_wrong_answer_gets_its_own_hint(exercise_id):
    ex = get_exercise(exercise_id)
    for m in ex.misconceptions:
        verdict = evaluate(ex, m.wrong, SEED)
        assert not verdict.passed
        assert verdict.code == m.code, (m.hint, verdict.message)


def verdict_code(exercise_id, answer):
    verdict = evaluate(get_exercise(exercise_id), answer, SEED)
    assert not verdict.passed
    return verdict.code, verdict.message


def staged_backward_written_with(overwrite_b=False, skip_upstream_at_sq=False, sigmoid_from_input=False,
                                 inverse_sign=+1.0, ignore_dg=False):
    """A learner's staged_backward, written out line by line, with chosen mistakes."""
    def answer(a, b, dg):
        dg = 1.0 if ignore_dg else dg
        ab, sigb = a * b, sigmoid(b)
        top = ab + sigb
        amb = a - b
        sq = amb**2
        bottom = 1.0 + sq
        inv = 1.0 / bottom
        dtop, dinv = inv * dg, top * dg
        dbottom = inverse_sign * (-1.0 / bottom**2) * dinv
        dsq = dbottom
        damb = 2.0 * amb * (1.0 if skip_upstream_at_sq else dsq)
        da, db = damb, -damb
        dab = dsigb = dtop
        local = b * (1.0 - b) if sigmoid_from_input else sigb * (1.0 - sigb)
        if overwrite_b:
            db = local * dsigb
        else:
            db += local * dsigb
        da += b * dab
        db += a * dab
        return da, db
    return answer


def test_staged_backward_hints():
    assert evaluate(c02.STAGED, staged_backward_written_with(), SEED).passed
    assert verdict_code("02.staged_backward", staged_backward_written_with(overwrite_b=True))[0] == "fork_overwrite"
    code, message = verdict_code("02.staged_backward", staged_backward_written_with(skip_upstream_at_sq=True))
    # Named by the formula, not by the lesson's variable names the learner may not have used.
    assert code == "upstream" and "(a - b)²" in message and "amb" not in message
    assert verdict_code("02.staged_backward", staged_backward_written_with(sigmoid_from_input=True))[0] \
        == "output_for_input"
    assert verdict_code("02.staged_backward", staged_backward_written_with(inverse_sign=-1.0))[0] == "sign"
    assert verdict_code("02.staged_backward", staged_backward_written_with(ignore_dg=True))[0] == "upstream"


def test_fork_hints():
    def overwritten(x, dout):
        s = sigmoid(x)
        dx = s * dout
        ds = x * dout
        dx = s * (1 - s) * ds  # "=" where "+=" belongs
        return dx

    def sigmoid_of_input(x, dout):
        s = sigmoid(x)
        return s * dout + x * (1 - x) * x * dout

    assert verdict_code("02.fork", overwritten)[0] == "fork_overwrite"
    assert verdict_code("02.fork", sigmoid_of_input)[0] == "output_for_input"
    assert verdict_code("02.fork", lambda x, dout: c02.silu_backward(x, 1.0))[0] == "upstream"
    assert verdict_code("02.fork", lambda x, dout: -c02.silu_backward(x, dout))[0] == "sign"


def test_cached_backward_hints():
    def tanh_from_input(dout, cache):
        s, t, z, x = cache["s"], cache["t"], cache["z"], cache["x"]
        dz = (1 - z * z) * s * dout
        dg = s * (1 - s) * t * dout
        return cache["w"] * dz + cache["u"] * dg, x * dg, x * dz, dz

    def one_share(dout, cache):
        dx, du, dw, db = c02.gated_backward(dout, cache)
        dg = du / cache["x"]
        return dx - cache["u"] * dg, du, dw, db

    def pops_the_cache(dout, cache):
        cache.pop("t")
        return 0.0, 0.0, 0.0, 0.0

    assert verdict_code("02.cached_backward", tanh_from_input)[0] == "output_for_input"
    assert verdict_code("02.cached_backward", one_share)[0] == "fork_overwrite"
    assert verdict_code("02.cached_backward", lambda dout, cache: c02.gated_backward(1.0, cache))[0] == "upstream"
    assert verdict_code("02.cached_backward", pops_the_cache)[0] == "mutated"


def test_fix_overwrite_hints():
    assert verdict_code("02.fix_overwrite", given_buggy_backward())[0] == "fork_overwrite"

    def only_dq_fixed(x, y, dh):
        q = x * y
        s = sigmoid(q)
        dx = dh
        dq = s * dh
        dq += s * (1.0 - s) * q * dh
        dx = y * dq
        return dx, x * dq

    code, message = verdict_code("02.fix_overwrite", only_dq_fixed)
    assert code == "fork_overwrite" and "x is a fork too" in message


def recursive_backward(root):
    order = order_check.recursive(root)
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node.inputs, node.local_grads):
            child.grad += local * node.grad


def test_backward_graph_hints():
    code, message = verdict_code("02.backward_graph", recursive_backward)
    assert code == "recursion" and "5,000" in message
    assert verdict_code("02.backward_graph", local_graph.overwriting_backward)[0] == "fork_overwrite"
    assert verdict_code("02.backward_graph", local_graph.breadth_first_backward)[0] == "topo_order"
    assert verdict_code("02.backward_graph", local_graph.forward_order_backward)[0] == "topo_order"
    assert verdict_code("02.backward_graph", local_graph.unseeded_backward)[0] == "upstream"
    assert verdict_code("02.backward_graph", local_graph.local_only_backward)[0] == "upstream"


def test_backward_graph_runs_on_fresh_graphs():
    calls = []

    def spy(root):
        calls.append(root)
        golden_rule_backward(root)

    assert evaluate(c02.BACKWARD, spy, SEED).passed
    assert len({id(r) for r in calls}) == len(calls)  # never the same graph twice
    assert all(r.grad == 1.0 for r in calls)


def test_graphs_copy_without_recursion_and_keep_their_shape():
    import copy

    spec = local_graph.deep_chain(np.random.default_rng(1))
    root = build_graph(spec)[0]
    twin = copy.deepcopy(root)
    assert twin is not root and depth_of(twin) == local_graph.DEEP
    assert [leaf.value for leaf in leaves_of(twin)] == [leaf.value for leaf in leaves_of(root)]
    assert c02.backward_reference(twin) == pytest.approx(leaf_gradients(spec), rel=1e-12)


def test_hints_never_print_the_answer():
    # The messages describe the mistake and the example, never the expected numbers.
    case = c02.STAGED.public[0]
    da, db = c02.staged_backward(*case.args)
    for answer in (staged_backward_written_with(overwrite_b=True), staged_backward_written_with(inverse_sign=-1)):
        _, message = verdict_code("02.staged_backward", answer)
        assert f"{da:.3f}" not in message and f"{db:.3f}" not in message
    assert math.isfinite(da)


def test_widget_buttons_step_and_the_toggle_replays_with_overwrite():
    from course.present.widgets.staged import staged_widget

    box = staged_widget()
    (x_slider, y_slider, toggle), (play, back, forward, stepper) = box.children[0].children, box.children[1].children
    summary, image, table = box.children[2], box.children[3], box.children[4]
    for _ in range(3):
        forward.click()
    back.click()
    assert stepper.value == 2 and "Forward stage 2 of 8" in summary.value
    back.click(), back.click(), back.click()
    assert stepper.value == 0  # never below the first step
    stepper.value = LAST_STEP
    assert "df/dx = 2.060" in summary.value and "2.060" in table.value
    toggle.value = True
    assert "With <code>=</code> at the forks: dx = 0.512" in summary.value
    x_slider.value = 1.0
    assert 'src="data:image/png;base64,iVBOR' in image.value and play.max == LAST_STEP
    assert f'alt="Step {LAST_STEP} of {LAST_STEP}: Backward stage 1 of 8.' in image.value
