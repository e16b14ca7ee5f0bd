"""Wrong answers of concepts 06 and 07 that an outcome-only check passed, each written as a learner would.

Every one must be rejected, with the hint that names its mistake; a right answer written another way
must still pass. The last tests ask the grader's judge across its wall: the adapters that watch an
answer at work (``Exercise.run_in_sandbox``) give the same verdict there as in a learner's own check.
"""

from __future__ import annotations

import numpy as np
import pytest

from course.assess.diagnose import evaluate
from course.assess.registry import get_exercise
from course.compute.batchnorm import BatchNorm

SEED = 20240521
H = 1e-5


def _verdict(ident, answer, seed=SEED):
    return evaluate(get_exercise(ident), answer, seed)


# ----- 06.train_loop: which rows each step sees, from which rng, how far it moves ------------------

def _sgd(net, x, y, lr, batches, scale=lambda lr, batch: lr):
    losses = []
    for batch in batches:
        loss, grads = net.loss_and_grads(x[batch], y[batch])
        for name, param in net.params.items():
            param -= scale(lr, batch) * grads[name]
        losses.append(loss)
    return losses


def shuffles_in_place(net, x, y, lr, epochs, batch_size, rng):
    index = np.arange(len(y))
    losses = []
    for _ in range(epochs):
        rng.shuffle(index)
        losses += _sgd(net, x, y, lr, [index[s:s + batch_size] for s in range(0, len(y), batch_size)])
    return losses


def never_shuffles(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        for start in range(0, len(y), batch_size):
            loss, grads = net.loss_and_grads(x[start:start + batch_size], y[start:start + batch_size])
            for name in net.params:
                net.params[name] -= lr * grads[name]
            losses.append(loss)
    return losses


def shuffles_once(net, x, y, lr, epochs, batch_size, rng):
    order = rng.permutation(len(y))
    losses = []
    for _ in range(epochs):
        losses += _sgd(net, x, y, lr, [order[s:s + batch_size] for s in range(0, len(y), batch_size)])
    return losses


def global_generator(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        order = np.random.permutation(len(y))
        losses += _sgd(net, x, y, lr, [order[s:s + batch_size] for s in range(0, len(y), batch_size)])
    return losses


def own_generator(net, x, y, lr, epochs, batch_size, rng):
    mine = np.random.default_rng(0)
    losses = []
    for _ in range(epochs):
        order = mine.permutation(len(y))
        losses += _sgd(net, x, y, lr, [order[s:s + batch_size] for s in range(0, len(y), batch_size)])
    return losses


def drops_last_batch(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        losses += _sgd(net, x, y, lr, [order[i * batch_size:(i + 1) * batch_size] for i in range(len(y) // batch_size)])
    return losses


def with_replacement(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        losses += _sgd(net, x, y, lr, [rng.integers(0, len(y), min(batch_size, len(y) - s))
                                       for s in range(0, len(y), batch_size)])
    return losses


def step_over_batch(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        losses += _sgd(net, x, y, lr, [order[s:s + batch_size] for s in range(0, len(y), batch_size)],
                       scale=lambda lr, batch: lr / batch_size)
    return losses


def step_over_this_batch(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        losses += _sgd(net, x, y, lr, [order[s:s + batch_size] for s in range(0, len(y), batch_size)],
                       scale=lambda lr, batch: lr / len(batch))
    return losses


def test_a_right_loop_written_otherwise_passes():
    assert _verdict("06.train_loop", shuffles_in_place).passed


@pytest.mark.parametrize("loop,code,words", [
    (never_shuffles, "shuffle", "never shuffles"),
    (shuffles_once, "shuffle", "shuffles once"),
    (global_generator, "global_rng", "never draws from the `rng` it is given"),
    (own_generator, "global_rng", "never draws from the `rng` it is given"),
    (drops_last_batch, "last_batch", "drops the last, smaller batch"),
    (with_replacement, "last_batch", "some come twice, others never"),
    (step_over_batch, "step_size", "divided by the batch size"),
    (step_over_this_batch, "step_size", "divided by the batch size"),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_a_loop_that_trains_but_gets_sgd_wrong_is_named(loop, code, words):
    verdict = _verdict("06.train_loop", loop)
    assert (verdict.passed, verdict.code) == (False, code), verdict.message
    assert words in verdict.message


# ----- 06.grad_check: one entry wrong, the mean, the denominator, the in-place rule ------------------

def _errors(f, x, analytic, entries, denominator=lambda a, n: abs(a) + abs(n)):
    errors = []
    for index in entries:
        saved = x[index]
        x[index] = saved + H
        plus = f(x)
        x[index] = saved - H
        minus = f(x)
        x[index] = saved
        numeric = (plus - minus) / (2 * H)
        errors.append(abs(analytic[index] - numeric) / max(denominator(analytic[index], numeric), 1e-8))
    return errors


def on_the_mean(f, x, analytic, entries):
    return bool(np.mean(_errors(f, x, analytic, entries)) <= 1e-6)


def larger_of_the_two(f, x, analytic, entries):
    return max(_errors(f, x, analytic, entries, lambda a, n: max(abs(a), abs(n)))) <= 1e-6


def over_the_analytic(f, x, analytic, entries):
    return max(_errors(f, x, analytic, entries, lambda a, n: abs(a))) <= 1e-6


def returns_its_error(f, x, analytic, entries):
    return max(_errors(f, x, analytic, entries))


def nudges_copies(f, x, analytic, entries):
    worst = 0.0
    for index in entries:
        up, down = x.copy(), x.copy()
        up[index] += H
        down[index] -= H
        numeric = (f(up) - f(down)) / (2 * H)
        worst = max(worst, abs(analytic[index] - numeric) / max(abs(analytic[index]) + abs(numeric), 1e-8))
    return worst <= 1e-6


def adds_and_subtracts(f, x, analytic, entries):
    worst = 0.0
    for index in entries:
        x[index] += H
        plus = f(x)
        x[index] -= 2 * H
        minus = f(x)
        x[index] += H  # back by arithmetic: not the same float
        numeric = (plus - minus) / (2 * H)
        worst = max(worst, abs(analytic[index] - numeric) / max(abs(analytic[index]) + abs(numeric), 1e-8))
    return worst <= 1e-6


def right_in_other_words(f, x, analytic, entries):
    return all(e <= 1e-6 for e in _errors(f, x, analytic, entries))


def test_a_right_checker_written_otherwise_passes():
    assert _verdict("06.grad_check", right_in_other_words).passed


@pytest.mark.parametrize("checker,code,words", [
    (on_the_mean, "threshold", "mean error"),
    (larger_of_the_two, "relative_error", "another denominator"),
    (over_the_analytic, "relative_error", "another denominator"),
    (returns_its_error, "dtype", "should be True or False"),
    (nudges_copies, "in_place", "on a copy of x"),
    (adds_and_subtracts, "mutated", "does not give back the same float"),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_a_checker_that_decides_otherwise_than_the_rule_is_named(checker, code, words):
    verdict = _verdict("06.grad_check", checker)
    assert (verdict.passed, verdict.code) == (False, code), verdict.message
    assert words in verdict.message
    assert "numerical derivative is off" not in verdict.message


# ----- 06.network_loss: large scores ---------------------------------------------------------------

def network_without_shift(x, y, W1, b1, W2, b2, l2, mask, keep_prob):
    n = len(y)
    z = x @ W1 + b1
    h = np.maximum(0, z) * mask / keep_prob
    scores = h @ W2 + b2
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * l2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    dscores = p.copy()
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz = (dscores @ W2.T) * mask / keep_prob * (z > 0)
    return loss, x.T @ dz + l2 * W1, dz.sum(0, keepdims=True), h.T @ dscores + l2 * W2, dscores.sum(0, keepdims=True)


def network_with_shift_and_log_of_p(x, y, W1, b1, W2, b2, l2, mask, keep_prob):
    n = len(y)
    z = x @ W1 + b1
    h = np.maximum(0, z) * mask / keep_prob
    scores = h @ W2 + b2
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * l2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    dscores = p.copy()
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz = (dscores @ W2.T) * mask / keep_prob * (z > 0)
    return loss, x.T @ dz + l2 * W1, dz.sum(0, keepdims=True), h.T @ dscores + l2 * W2, dscores.sum(0, keepdims=True)


def test_a_network_loss_without_the_max_shift_overflows_and_is_told_so():
    assert _verdict("06.network_loss", network_with_shift_and_log_of_p).passed
    verdict = _verdict("06.network_loss", network_without_shift)
    assert (verdict.passed, verdict.code) == (False, "overflow"), verdict.message
    assert "Subtract each row's largest score" in verdict.message


# ----- 07: γ ≠ 1 inside the network, test mode's new arrays ------------------------------------------

class NoGammaInDx(BatchNorm):
    def __init__(self, width):
        super().__init__(width, momentum=0.9, eps=1e-5)

    def backward(self, dout):
        c = self.cache
        n = dout.shape[0]
        self.grads["gamma"] = (dout * c.x_hat).sum(axis=0, keepdims=True)
        self.grads["beta"] = dout.sum(axis=0, keepdims=True)
        return c.istd / n * (n * dout - self.grads["beta"] - c.x_hat * self.grads["gamma"])  # γ forgotten


def test_batchnorm_in_the_network_without_gamma_in_dx_is_named():
    verdict = _verdict("07.network_batchnorm", NoGammaInDx)
    assert (verdict.passed, verdict.code) == (False, "missing_gamma"), verdict.message
    assert "leaves out γ" in verdict.message


def test_mode_returning_its_running_arrays(x, gamma, beta, running_mean, running_var, momentum, eps, train):
    if train:
        mu, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, running_mean, running_var


test_mode_returning_its_running_arrays.__test__ = False  # a learner's answer, not a test


def test_test_mode_returning_its_input_arrays_is_refused():
    verdict = _verdict("07.running_stats", test_mode_returning_its_running_arrays)
    assert (verdict.passed, verdict.code) == (False, "aliased"), verdict.message
    assert "`new_mean` is the array `running_mean`" in verdict.message


# ----- across the judge's wall ---------------------------------------------------------------------

@pytest.mark.parametrize("ident,answer", [
    ("06.train_loop", shuffles_in_place), ("06.train_loop", never_shuffles), ("06.train_loop", step_over_batch),
    ("06.grad_check", right_in_other_words), ("06.grad_check", nudges_copies), ("06.grad_check", adds_and_subtracts),
    ("07.running_stats", test_mode_returning_its_running_arrays),
], ids=lambda v: getattr(v, "__name__", v))
def test_the_judge_gives_the_local_verdict_of_a_watched_answer(monkeypatch, socket_dir, ident, answer):
    from test_grading_units import judged_alike_on_both_sides

    judged_alike_on_both_sides(ident, answer, monkeypatch, socket_dir)


# ----- 05.catch_the_swap: a test of the kept units' value alone ------------------------------------

def test_a_dropout_test_that_checks_only_the_kept_units_value_is_named():
    def scale_only(dropout_forward, keep_prob):
        x = np.ones((100, 100))
        out = dropout_forward(x, keep_prob, np.random.default_rng(1))
        return bool(np.allclose(out[out != 0], 1 / keep_prob))

    verdict = _verdict("05.catch_the_swap", scale_only)
    assert (verdict.passed, verdict.code) == (False, "scale_only_test"), verdict.message
    assert "Measure the fraction kept too" in verdict.message
