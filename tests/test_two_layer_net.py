"""Concept 06: the lesson's printed numbers, the widget's state function, and the checks' edges.

Every misconception of the concept's exercises is proven by tests/test_exercises.py
(each wrong answer gets its own hint); here are the cases specific to this concept.
"""

import re

import numpy as np
import pytest
from conftest import LESSONS, gradflow, read

from course.assess.concepts import c06_two_layer_net as c06
from course.assess.diagnose import evaluate
from course.assess.registry import get_exercise
from course.compute.network_mistakes import network_with_switches

SEED = 4321


def worked_text(name: str) -> str:
    nb = read(LESSONS / "06_two_layer_net.ipynb")
    cell = next(c for c in nb.cells if gradflow(c).get("worked") == name)
    return "".join(o.get("text", "") for o in cell.outputs)


# ----- the lesson ------------------------------------------------------------------------------

def test_digits_network_reaches_95_percent_with_the_baseline_beside_it():
    text = worked_text("digits")
    network = float(re.search(r"two-layer network:\s+test accuracy (\d\.\d+)", text).group(1))
    baseline = float(re.search(r"LogisticRegression: test accuracy (\d\.\d+)", text).group(1))
    assert network >= 0.95
    assert 0.5 < baseline <= 1.0  # printed beside it, from the same split


def test_lesson_gradient_check_passes_every_parameter():
    lines = worked_text("gradcheck").splitlines()
    assert [line.split(":")[0] for line in lines] == ["fc1.w", "bias1.b", "fc2.w", "bias2.b"]
    assert all(": ok," in line for line in lines)


def test_lesson_kink_fails_only_where_the_step_straddles_it():
    lines = dict(line.split(": ", 1) for line in worked_text("kink").splitlines())
    assert lines["fc1.w"].startswith("MISMATCH") and lines["bias1.b"].startswith("MISMATCH")
    assert lines["bias2.b"].startswith("ok")


def test_lesson_l2_numbers():
    text = worked_text("l2")
    data, penalty, total = map(float, re.search(r"data loss ([\d.]+) \+ penalty ([\d.]+) = ([\d.]+)", text).groups())
    assert total == pytest.approx(data + penalty, abs=2e-4)
    assert text.count("True") == 2


def test_lesson_bug_hunt_finds_each_bug():
    text = worked_text("bugs")
    assert "sign " in text and "no_mean" in text and "no_decay" in text and "dropout_on" in text


# ----- the widget -------------------------------------------------------------------------------

def test_widget_trainer_advanced_in_chunks_equals_training_from_scratch():
    from course.present.widgets.two_layer import SpiralTrainer, two_layer_state

    trainer = SpiralTrainer(20, 1.0, 1e-3, 0.8)
    for _ in range(3):
        trainer.advance(2)
    stepwise, scratch = trainer.state(), two_layer_state(20, 1.0, 1e-3, 0.8, chunks=6)
    assert stepwise.losses == scratch.losses and np.array_equal(stepwise.regions, scratch.regions)
    assert scratch.steps == 60 and scratch.summary().startswith("step 60: loss ")


def test_widget_loss_falls_and_a_huge_learning_rate_is_reported_not_crashed():
    from course.present.widgets.two_layer import two_layer_state

    state = two_layer_state(30, 1.0, 1e-3, 1.0, chunks=30)
    assert state.losses[-1] < 0.8 * state.losses[0] and state.accuracy > 0.5
    wild = two_layer_state(30, 3.0, 0.0, 1.0, chunks=20)
    assert len(wild.losses) == 21 and "step 200" in wild.summary()


def test_widget_controls_train_step_and_reset():
    import ipywidgets as widgets

    from course.present.widgets.two_layer import two_layer_state, two_layer_widget

    box = two_layer_widget(hidden=20)

    def find(kind, description=None):
        stack = [box]
        while stack:
            w = stack.pop(0)
            if isinstance(w, kind) and (description is None or w.description == description):
                return w
            stack.extend(getattr(w, "children", ()))

    play, text = find(widgets.Play), find(widgets.HTML)
    find(widgets.Button, "step").click()
    assert play.value == 1 and two_layer_state(hidden=20, chunks=1).summary() in text.value
    play.value = 4
    assert two_layer_state(hidden=20, chunks=4).summary() in text.value
    find(widgets.FloatSlider, "learning rate").value = 0.5
    assert play.value == 0 and two_layer_state(hidden=20, lr=0.5).summary() in text.value
    play.value = 2
    find(widgets.Button, "reset").click()
    assert play.value == 0 and two_layer_state(hidden=20, lr=0.5).summary() in text.value


# ----- the checks' edges ------------------------------------------------------------------------

@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_any_relu_share_at_the_tie_is_accepted(share):
    for exercise_id, answer in [("06.network_loss", lambda *a: network_with_switches(*a, tie=share)),
                                ("06.bug_hunt", lambda *a: c06.partly_fixed(*a, tie=share))]:
        assert evaluate(get_exercise(exercise_id), answer, SEED).passed


def test_the_tie_case_really_has_a_relu_input_at_zero():
    x, y, W1, b1, *_ = c06._tie_case().args
    assert (x @ W1 + b1)[0, 0] == 0.0


def test_a_relu_mask_that_ignores_the_tie_convention_in_a_way_no_framework_does_is_rejected():
    verdict = evaluate(get_exercise("06.network_loss"), lambda *a: network_with_switches(*a, tie=-1.0), SEED)
    assert not verdict.passed


def test_a_gradient_check_that_does_not_restore_the_entry_is_told_so():
    def sloppy(f, x, analytic, entries):
        worst = 0.0
        for index in entries:
            saved = x[index]
            x[index] = saved + 1e-5
            plus = f(x)
            x[index] = saved - 1e-5
            minus = f(x)
            numeric = (plus - minus) / 2e-5
            worst = max(worst, abs(analytic[index] - numeric) / max(abs(analytic[index]) + abs(numeric), 1e-8))
        return bool(worst <= 1e-6)

    verdict = evaluate(get_exercise("06.grad_check"), sloppy, SEED)
    # Told to put the entry back, as the task says (not to compute into a new array, which it rules out).
    assert verdict.code == "mutated" and "put every entry back" in verdict.message
    assert "new array" not in verdict.message


def test_gradient_check_cases_sit_clearly_on_their_side_of_the_threshold():
    """A correct gradient is far below 1e-6; every wrong one far above, but for the two cases made on
    purpose near the rule (one entry at 3e-6, every entry at 0.8e-6), which keep a fifth of it as margin."""
    from course.compute.gradcheck import relative_error

    for seed in (SEED, 1, 2, 3):
        for case in c06.check_cases(np.random.default_rng(seed)):
            loss, w, analytic, entries = case.args
            true = loss.gradient(w)
            worst = max(float(relative_error(analytic[i], true[i])) for i in entries)
            if case.note.startswith("one entry off by a relative 3e-6"):
                assert 2.9e-6 < worst < 3.1e-6, case.note
            elif case.note.startswith("every entry off by a relative 8e-7"):
                assert 0.75e-6 < worst < 0.85e-6, case.note
            else:
                assert worst < 1e-9 or worst > 5e-6, case.note


def test_a_training_loop_that_trains_on_one_batch_only_is_caught():
    def lazy(net, x, y, lr, epochs, batch_size, rng):
        losses = []
        for _ in range(epochs * -(-len(y) // batch_size)):
            loss, grads = net.loss_and_grads(x[:1], y[:1])
            for name, param in net.params.items():
                param -= lr * grads[name]
            losses.append(loss)
        return losses

    verdict = evaluate(get_exercise("06.train_loop"), lazy, SEED)
    assert not verdict.passed


def test_the_other_splits_show_what_the_text_says():
    # The text: on four other splits LogisticRegression wins on the test set (by 0.3 to 2.3 points) and
    # fits its training data more closely than the regularised network.
    nb = read(LESSONS / "06_two_layer_net.ipynb")
    cell = next(c for c in nb.cells if c.get("id") == "06-splits")
    lines = "".join(o.get("text", "") for o in cell.outputs).splitlines()
    assert len(lines) == 4
    gaps = []
    for line in lines:
        net_test, net_train, lr_test, lr_train = (float(v) for v in re.findall(r"\d\.\d{3}", line))
        assert lr_test > net_test and lr_train > net_train, line
        gaps.append(lr_test - net_test)
    assert round(min(gaps) * 100, 1) == 0.3 and round(max(gaps) * 100, 1) == 2.3
