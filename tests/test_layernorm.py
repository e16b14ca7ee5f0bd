"""Layer normalisation (lesson 07's addition): the staged backward along the feature axis against
numerical gradients and against batch normalisation of the transpose, no dependence on the batch,
and exercise 07.layernorm: a right module passes, and each misconception, written as a learner
would write it, gets its hint."""

from __future__ import annotations

import numpy as np
import pytest

from course.assess.diagnose import evaluate
from course.assess.registry import get_exercise
from course.compute.batchnorm import batchnorm_backward, batchnorm_forward
from course.compute.gradcheck import gradcheck
from course.compute.layernorm import LayerNorm, MistakenLayerNorm, layernorm_backward, layernorm_forward
from course.compute.layers import Module
from course.compute.network import network_gradcheck, two_layer_network


def _batch(n, d, seed=0):
    rng = np.random.default_rng(seed)
    # Each row its own location and scale: statistics over the wrong axis cannot pass.
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=(n, 1)) + rng.uniform(-3, 3, size=(n, 1))
    gamma, beta = rng.uniform(0.5, 2.0, size=(1, d)), rng.uniform(-1, 1, size=(1, d))
    return x, gamma, beta, rng.normal(size=(n, d))


@pytest.mark.parametrize("n, d", [(1, 4), (3, 5), (7, 2), (4, 6)])
def test_backward_matches_numerical_gradients(n, d):
    x, gamma, beta, dout = _batch(n, d)
    _, cache = layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    for name, value, analytic, forward in (
            ("dx", x, dx, lambda v: layernorm_forward(v, gamma, beta)[0]),
            ("dgamma", gamma, dgamma, lambda g: layernorm_forward(x, g, beta)[0]),
            ("dbeta", beta, dbeta, lambda b: layernorm_forward(x, gamma, b)[0])):
        result = gradcheck(forward, value.copy(), analytic, upstream=dout, name=name)
        assert result.passed, result.summary()


def test_it_is_batch_normalisation_of_the_transpose():
    x, gamma, beta, dout = _batch(5, 3)
    out, cache = layernorm_forward(x, gamma, beta)
    x_hat_t, bn_cache = batchnorm_forward(x.T, np.ones((1, 5)), np.zeros((1, 5)))
    np.testing.assert_allclose(out, gamma * x_hat_t.T + beta, rtol=1e-12)
    dx_t, _, _ = batchnorm_backward((dout * gamma).T, bn_cache)
    np.testing.assert_allclose(layernorm_backward(dout, cache)[0], dx_t.T, rtol=1e-10, atol=1e-12)


def test_an_example_is_normalised_the_same_whatever_its_batch_and_alone():
    x, gamma, beta, _ = _batch(6, 4)
    out = layernorm_forward(x, gamma, beta)[0]
    np.testing.assert_allclose(layernorm_forward(x[2:3], gamma, beta)[0], out[2:3], rtol=1e-13)
    np.testing.assert_allclose(layernorm_forward(x[::-1], gamma, beta)[0], out[::-1], rtol=1e-13)
    module = LayerNorm(4)
    module.training = False
    np.testing.assert_allclose(module.forward(x), layernorm_forward(x, module.params["gamma"],
                                                                    module.params["beta"])[0])
    assert not [k for k in vars(module) if k.startswith("running")]  # nothing kept between batches


def test_the_module_in_the_network_passes_the_gradient_check_and_a_batch_of_one_trains():
    net = two_layer_network((5, 4, 3), np.random.default_rng(0), normalize=LayerNorm)
    net.params["bias1.b"][:] = 0.3  # off relu's kink
    rng = np.random.default_rng(1)
    for n in (1, 6):
        x, y = rng.normal(size=(n, 5)), rng.integers(0, 3, n)
        for result in network_gradcheck(net, x, y, rng, samples=None):
            assert result.passed, result.summary()


# ----- exercise 07.layernorm: written as a learner would ---------------------------------------

class LearnerLayerNorm(Module):
    """A right answer written differently from the reference: np.mean / np.var and the compact formula."""

    def __init__(self, width, axis=1, keep_running=False, constants=False):
        super().__init__()
        self.params["gamma"], self.params["beta"] = np.ones((1, width)), np.zeros((1, width))
        self.axis, self.keep_running, self.constants = axis, keep_running, constants
        self.running_mean, self.running_var = np.zeros((1, width)), np.ones((1, width))

    def forward(self, x):
        g, b = self.params["gamma"], self.params["beta"]
        if self.keep_running:
            if not self.training:
                return g * (x - self.running_mean) / np.sqrt(self.running_var + 1e-5) + b
            self.running_mean = 0.9 * self.running_mean + 0.1 * np.mean(x, axis=0, keepdims=True)
            self.running_var = 0.9 * self.running_var + 0.1 * np.var(x, axis=0, keepdims=True)
        mu, var = np.mean(x, axis=self.axis, keepdims=True), np.var(x, axis=self.axis, keepdims=True)
        self.std = np.sqrt(var + 1e-5)
        self.x_hat = (x - mu) / self.std
        return g * self.x_hat + b

    def backward(self, dout):
        a = self.axis
        self.grads["beta"] = dout.sum(axis=0, keepdims=True)
        self.grads["gamma"] = (dout * self.x_hat).sum(axis=0, keepdims=True)
        dxh = dout * self.params["gamma"]
        if self.constants:
            return dxh / self.std
        m = dout.shape[a]
        return (m * dxh - dxh.sum(axis=a, keepdims=True)
                - self.x_hat * (dxh * self.x_hat).sum(axis=a, keepdims=True)) / (m * self.std)


def _verdict(answer):
    return evaluate(get_exercise("07.layernorm"), answer, seed=11)


def test_a_right_module_passes():
    assert _verdict(LearnerLayerNorm).passed
    assert _verdict(lambda width: LayerNorm(width)).passed


@pytest.mark.parametrize("settings, code, words", [
    (dict(axis=0), "sum_axis", "over the batch (axis 0)"),
    (dict(keep_running=True), "running_update", "running averages"),
    (dict(constants=True), "stats_constant", "as constants"),
])
def test_each_misconception_gets_its_hint(settings, code, words):
    verdict = _verdict(lambda width: LearnerLayerNorm(width, **settings))
    assert not verdict.passed and verdict.code == code and words in verdict.message, verdict.message


def test_a_module_with_another_eps_fails_without_a_wrong_hint():
    verdict = _verdict(lambda width: LayerNorm(width, eps=1e-2))
    assert not verdict.passed


def test_the_mistaken_module_refuses_a_mistake_it_does_not_know():
    with pytest.raises(ValueError, match="mistake must be one of"):
        MistakenLayerNorm(3, "momentum")
