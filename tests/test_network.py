"""The assembled network and its trainer (course.compute.network), against numerical gradients.

Every parameter's gradient is compared with central differences of the
total loss (data loss + L2 penalty), with dropout on and its masks held
fixed; shapes include a batch of one and all sizes different.
"""

import numpy as np
import pytest

from course.compute.data import digits_split, spiral, standardise, stratified_indices
from course.compute.layers import Activation, AddBias, FullyConnected
from course.compute.network import (Dropout, Network, network_gradcheck, sgd_step, train,
                                    two_layer_network)

SIZES = [(1, 3, 4, 2), (5, 4, 7, 3), (6, 2, 9, 5)]  # (N, D, H, C), all different


@pytest.mark.parametrize("n, d, h, c", SIZES)
@pytest.mark.parametrize("keep_prob, l2", [(1.0, 0.0), (1.0, 0.3), (0.6, 0.1)])
def test_every_parameter_gradient_matches_numerical(n, d, h, c, keep_prob, l2):
    rng = np.random.default_rng([n, d, h, c])
    x, y = rng.normal(size=(n, d)), rng.integers(0, c, n)
    net = two_layer_network((d, h, c), np.random.default_rng(1), keep_prob=keep_prob, l2=l2)
    # Non-zero biases: zero biases would hide a bias gradient summed over the wrong axis.
    for key, p in net.params.items():
        if key.endswith(".b"):
            p += rng.normal(size=p.shape)
    results = network_gradcheck(net, x, y, np.random.default_rng(2), samples=None)
    assert [r.name for r in results] == ["fc1.w", "bias1.b", "fc2.w", "bias2.b"]
    assert all(r.passed for r in results), [str(r) for r in results]


def test_l2_decays_the_weights_only():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.integers(0, 2, 4)
    plain = two_layer_network((3, 5, 2), np.random.default_rng(1))
    decayed = two_layer_network((3, 5, 2), np.random.default_rng(1), l2=0.5)
    loss0, g0 = plain.loss_and_grads(x, y)
    loss1, g1 = decayed.loss_and_grads(x, y)
    w1, w2 = plain.params["fc1.w"], plain.params["fc2.w"]
    assert loss1 == pytest.approx(loss0 + 0.25 * (np.sum(w1**2) + np.sum(w2**2)))
    assert np.allclose(g1["fc1.w"], g0["fc1.w"] + 0.5 * w1)
    assert np.allclose(g1["bias1.b"], g0["bias1.b"]) and np.allclose(g1["bias2.b"], g0["bias2.b"])


def test_backward_runs_the_modules_in_reverse_and_leaves_the_list_alone():
    order = []

    class Spy(Activation):
        def __init__(self, tag):
            super().__init__("identity")
            self.tag = tag

        def backward(self, dout):
            order.append(self.tag)
            return super().backward(dout)

    net = Network([("a", Spy("a")), ("b", Spy("b")), ("c", Spy("c"))])
    net.forward(np.ones((2, 3)))
    net.backward(np.ones((2, 3)))
    assert order == ["c", "b", "a"]
    assert [n for n, _ in net.layers] == ["a", "b", "c"]


def test_params_are_the_modules_arrays_so_sgd_updates_the_network():
    net = two_layer_network((3, 4, 2), np.random.default_rng(0))
    x, y = np.random.default_rng(1).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    before = {k: v.copy() for k, v in net.params.items()}
    _, grads = net.loss_and_grads(x, y)
    sgd_step(net, 0.1)
    for key in before:
        assert np.allclose(net.params[key], before[key] - 0.1 * grads[key])
    assert net.module("fc1").params["w"] is net.params["fc1.w"]


def test_insert_after_puts_a_module_between_signature_and_bias():
    net = two_layer_network((3, 4, 2), np.random.default_rng(0))
    net.insert_after("fc1", "norm1", Activation("identity"))
    assert [n for n, _ in net.layers][:3] == ["fc1", "norm1", "bias1"]
    with pytest.raises(ValueError):
        net.insert_after("fc1", "norm1", Activation("identity"))
    with pytest.raises(KeyError):
        net.insert_after("nowhere", "x", Activation("identity"))
    built = two_layer_network((3, 4, 2), np.random.default_rng(0), normalize=lambda width: AddBias(np.ones((1, width))))
    assert [n for n, _ in built.layers][:3] == ["fc1", "norm1", "bias1"]


def test_dropout_is_off_in_evaluation_and_its_mask_can_be_held():
    net = two_layer_network((3, 50, 2), np.random.default_rng(0), keep_prob=0.5)
    x = np.random.default_rng(1).normal(size=(4, 3))
    assert np.array_equal(net.forward(x, train=False), net.forward(x, train=False))
    assert not np.array_equal(net.forward(x, train=True), net.forward(x, train=True))
    with net.fixed_masks():
        assert np.array_equal(net.forward(x, train=True), net.forward(x, train=True))
    drop = net.module("drop1")
    assert isinstance(drop, Dropout) and not drop.hold


def test_a_wrong_backward_is_caught_by_the_gradient_check():
    class FlippedBias(AddBias):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["b"] = -self.grads["b"]
            return dx

    rng = np.random.default_rng(3)
    net = Network([("fc1", FullyConnected(rng.normal(size=(3, 4)))), ("bias1", FlippedBias(rng.normal(size=(1, 4))))])
    results = network_gradcheck(net, rng.normal(size=(5, 3)), rng.integers(0, 4, 5), rng, samples=None)
    assert results[0].passed and not results[1].passed


def test_training_is_deterministic_and_the_loss_falls():
    x, y = spiral(50, 3, rng=np.random.default_rng(0))
    runs = []
    for _ in range(2):
        net = two_layer_network((2, 30, 3), np.random.default_rng(1), keep_prob=0.9, l2=1e-3)
        history = train(net, x, y, np.random.default_rng(2), lr=1.0, epochs=60, batch_size=30, x_val=x, y_val=y)
        runs.append((history.losses, net.params["fc2.w"].copy()))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
    losses = runs[0][0]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])


def test_a_diverging_run_stops_at_the_first_non_finite_loss():
    x, y = spiral(30, 3, rng=np.random.default_rng(0))
    net = two_layer_network((2, 20, 3), np.random.default_rng(1))
    with np.errstate(all="ignore"):
        history = train(net, x * 1e3, y, np.random.default_rng(2), lr=1e6, epochs=50, batch_size=90)
    assert not np.isfinite(history.losses[-1]) and history.steps < 50


def test_digits_split_is_stratified_standardised_and_fixed():
    split = digits_split(0)
    assert split.sizes == (1078, 360, 359) and split.num_features == 64 and split.num_classes == 10
    assert np.allclose(split.x_train.mean(axis=0), 0.0)
    for y in (split.y_train, split.y_val, split.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.min() >= 0.9 * counts.max() * 0.9
    again = digits_split(0)
    assert np.array_equal(split.x_test, again.x_test)
    assert np.all(np.isfinite(split.x_test))


def test_stratified_indices_cover_every_example_once():
    y = np.repeat(np.arange(3), [10, 7, 5])
    parts = stratified_indices(y, (0.6, 0.2, 0.2), np.random.default_rng(0))
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(y)))
    a, b = standardise(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]]))
    assert np.allclose(a, [[-1.0, 0.0], [1.0, 0.0]]) and np.allclose(b, [[0.0, 1.0]])


def test_spiral_shapes_and_classes():
    x, y = spiral(40, 4, rng=np.random.default_rng(0))
    assert x.shape == (160, 2) and x.dtype == np.float64 and np.bincount(y).tolist() == [40] * 4
    assert np.abs(x).max() <= 1.0 + 1e-12


# ----- a check leaves the network as it found it; a last batch of one -------------------

def _batchnorm_net(hidden=6):
    from course.compute.batchnorm import BatchNorm
    return two_layer_network((4, hidden, 3), np.random.default_rng(0), normalize=lambda width: BatchNorm(width))


def test_gradient_check_leaves_batchnorm_running_statistics_as_it_found_them():
    net = _batchnorm_net()
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 4)) * 3 + 2, rng.integers(0, 3, 8)
    running = net.module("norm1").running
    mean, var = running.mean.copy(), running.var.copy()
    results = network_gradcheck(net, x, y, np.random.default_rng(2), samples=None)
    assert all(r.passed for r in results)
    after = net.module("norm1").running
    assert np.array_equal(after.mean, mean) and np.array_equal(after.var, var)
    # ... where the same loss evaluations, left alone, would have moved them a long way.
    for _ in range(50):
        net.loss_and_grads(x, y)
    assert np.abs(net.module("norm1").running.mean - mean).max() > 0.1


def test_gradient_check_keeps_a_learners_running_attributes_too():
    from course.compute.layers import Module

    class Counting(Module):  # a module of the learner's kind: running_mean / running_var attributes
        def __init__(self, width):
            super().__init__()
            self.running_mean, self.running_var = np.zeros((1, width)), np.ones((1, width))

        def forward(self, x):
            if self.training:
                self.running_mean = self.running_mean + x.mean(axis=0, keepdims=True)
            return x

        def backward(self, dout):
            return dout

    net = two_layer_network((4, 5, 3), np.random.default_rng(0), normalize=Counting)
    x, y = np.random.default_rng(1).normal(size=(6, 4)), np.arange(6) % 3
    network_gradcheck(net, x, y, np.random.default_rng(2), samples=3)
    assert np.array_equal(net.module("norm1").running_mean, np.zeros((1, 5)))


@pytest.mark.parametrize("n, batch_size, sizes", [(101, 50, [50, 51]), (11, 5, [5, 6]), (10, 5, [5, 5]),
                                                  (12, 5, [5, 5, 2]), (1, 5, [1])])
def test_a_last_batch_of_one_joins_the_batch_before_it(n, batch_size, sizes):
    from course.compute.network import minibatches

    batches = list(minibatches(n, batch_size, np.random.default_rng(0), merge_single=True))
    assert [len(b) for b in batches] == sizes
    assert sorted(np.concatenate(batches).tolist()) == list(range(n))  # every example, once
    plain = list(minibatches(n, batch_size, np.random.default_rng(0)))
    assert np.array_equal(np.concatenate(plain), np.concatenate(batches))  # the same shuffle


def test_training_with_batchnorm_survives_a_last_batch_of_one():
    net = _batchnorm_net()
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(21, 4)), rng.integers(0, 3, 21)
    history = train(net, x, y, np.random.default_rng(4), lr=0.1, epochs=3, batch_size=10)
    assert history.steps == 3 * 2 and np.all(np.isfinite(history.losses))


def test_a_history_summary_keeps_the_digits_that_survive_another_summation_order():
    from course.compute.network import History

    run = History(losses=[2.302585093, 1.2, 0.43912345], val_accuracy=[0.9, 0.9611111])
    assert run.summary() == "loss 2.303 at the first step, 0.4391 at step 3; validation accuracy 0.961"
    assert run.diverged_at is None


def test_a_diverged_run_is_described_not_given_in_digits():
    from course.compute.network import History

    # the loss passes 1e3 at step 3; what it does afterwards is round-off's
    run = History(losses=[3.76, 554.4, 1045.7, 861108205428736.0, 2.6e10], val_accuracy=[0.822])
    assert run.diverged_at == 3
    assert run.summary() == "diverged: loss > 1e3 after 3 steps"
    assert History(losses=[3.76, float("nan")]).summary() == "diverged: loss > 1e3 after 2 steps"


def test_a_diverging_network_run_says_so():
    x, y = spiral(20, 3, noise=0.2, rng=np.random.default_rng(0))
    net = two_layer_network((2, 10, 3), np.random.default_rng(1))
    with np.errstate(all="ignore"):
        history = train(net, x, y, np.random.default_rng(2), lr=1e4, epochs=5, batch_size=20)
    assert history.diverged_at is not None
    assert history.summary().startswith("diverged: loss > 1e3 after ")


def test_a_module_in_the_network_sees_every_input_unless_a_unit_is_made_dead():
    # The checker of 07's network exercises zeroes one unit's weights on request; with none asked for
    # (dead_unit None), fc1.w[:, None] would have zeroed every weight and made every example look alike.
    from course.compute.batchnorm import BatchNorm
    from course.compute.network_runs import module_in_network

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), np.array([0, 1, 1, 0, 1])
    scores = module_in_network(BatchNorm, (4, 3, 2), 0, x, y, x[:2], None)[-1]
    assert not np.allclose(scores[0], scores[1])
    loss, dW1 = module_in_network(BatchNorm, (4, 3, 2), 0, x, y, x[:2], 1)[:2]
    assert np.isfinite(loss) and dW1.shape == (4, 3)
