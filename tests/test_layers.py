"""The vectorized layers against the numerical gradient (the independent oracle).

Inputs are random float64 with non-trivial upstream gradients: all-ones
upstream gradients or equal entries would hide a missing factor or a
transpose. Shapes include a batch of one and non-square weights.
"""

import numpy as np
import pytest

from course.compute import layers
from course.compute.gradcheck import gradcheck
from course.compute.layout import flat_index, position_of

SHAPES = [(1, 3, 2), (4, 3, 5), (5, 2, 3), (3, 3, 3), (2, 6, 1)]  # (N, D, F)


def _rng(*key):
    return np.random.default_rng([20, *key])


@pytest.mark.parametrize("n, d, f", SHAPES)
def test_fully_connected_gradients_match_numerical(n, d, f):
    rng = _rng(n, d, f)
    x, w = rng.normal(size=(n, d)), rng.normal(size=(d, f))
    dout = rng.normal(size=(n, f))
    out, cache = layers.fc_forward(x, w)
    assert out.shape == (n, f)
    dx, dw = layers.fc_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert gradcheck(lambda v: layers.fc_forward(v, w)[0], x, dx, upstream=dout, name="dx").passed
    assert gradcheck(lambda v: layers.fc_forward(x, v)[0], w, dw, upstream=dout, name="dw").passed


@pytest.mark.parametrize("n, d, f", SHAPES)
def test_add_bias_gradients_match_numerical(n, d, f):
    rng = _rng(n, f, 1)
    x, b = rng.normal(size=(n, f)), rng.normal(size=(1, f))
    dout = rng.normal(size=(n, f))
    out, cache = layers.add_bias_forward(x, b)
    dx, db = layers.add_bias_backward(dout, cache)
    assert db.shape == (1, f), "the bias gradient keeps the bias's (1, F) shape"
    assert gradcheck(lambda v: layers.add_bias_forward(v, b)[0], x, dx, upstream=dout).passed
    assert gradcheck(lambda v: layers.add_bias_forward(x, v)[0], b, db, upstream=dout).passed


def test_add_bias_returns_a_new_array_for_dx():
    dout = np.arange(6.0).reshape(2, 3)
    dx, _ = layers.add_bias_backward(dout, (1, 3))
    assert dx is not dout and np.array_equal(dx, dout)


@pytest.mark.parametrize("name", sorted(layers.ACTIVATIONS))
@pytest.mark.parametrize("shape", [(1, 4), (3, 5), (2, 3, 2)])
def test_activation_gradients_match_numerical(name, shape):
    forward, backward = layers.ACTIVATIONS[name]
    rng = _rng(len(name), *shape)
    # Keep relu's inputs away from its kink, where a central difference with
    # a step h straddles two slopes.
    x = rng.normal(size=shape)
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    dout = rng.normal(size=shape)
    out, cache = forward(x)
    dx = backward(dout, cache)
    assert out.shape == dx.shape == shape
    assert gradcheck(lambda v: forward(v)[0], x, dx, upstream=dout, name=name).passed


def test_relu_is_elementwise_and_splits_the_tie_like_the_max_gate():
    x = np.array([[-2.0, 0.0, 3.0]])
    out, cache = layers.relu_forward(x)
    assert np.array_equal(out, [[0.0, 0.0, 3.0]])
    dx = layers.relu_backward(np.array([[5.0, 4.0, 7.0]]), cache)
    assert np.array_equal(dx, [[0.0, 2.0, 7.0]])
    # the central difference at the kink measures the same half share
    assert gradcheck(lambda v: layers.relu_forward(v)[0], x, dx, upstream=np.array([[5.0, 4.0, 7.0]])).passed


def test_sigmoid_does_not_overflow():
    s, _ = layers.sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    assert np.array_equal(s, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("activation", sorted(layers.ACTIVATIONS))
@pytest.mark.parametrize("n, d, f", SHAPES)
def test_layer_template_gradients_match_numerical(activation, n, d, f):
    rng = _rng(n, d, f, len(activation))
    x = rng.normal(size=(n, d))
    w, b = rng.normal(size=(d, f)) * 0.5, rng.normal(size=(1, f))
    dout = rng.normal(size=(n, f))
    layer = layers.Layer(w, b, activation)
    layer.forward(x)
    dx = layer.backward(dout)
    grads = layer.grads
    assert set(grads) == {"w", "b"}

    def run(x_=x, w_=w, b_=b):
        return layers.Layer(w_, b_, activation).forward(x_)

    assert gradcheck(lambda v: run(x_=v), x, dx, upstream=dout, name="dx").passed
    assert gradcheck(lambda v: run(w_=v), w, grads["w"], upstream=dout, name="dw").passed
    assert gradcheck(lambda v: run(b_=v), b, grads["b"], upstream=dout, name="db").passed


def test_layer_backward_runs_the_modules_in_reverse():
    calls = []

    class Spy(layers.Module):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, x):
            return x

        def backward(self, dout):
            calls.append(self.name)
            return dout

    layer = layers.Layer(np.eye(2), np.zeros((1, 2)))
    layer.modules = [Spy("fc"), Spy("bias"), Spy("act")]
    layer.backward(np.ones((1, 2)))
    assert calls == ["act", "bias", "fc"]
    assert [m.name for m in layer.modules] == ["fc", "bias", "act"], "backward must not reorder the modules"


def test_unknown_activation_is_refused():
    with pytest.raises(KeyError):
        layers.Activation("tanh")


@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), (1, 1, 7), (3, 2, 2, 5)])
def test_flat_index_and_its_inverse_match_numpy(shape):
    for index in range(int(np.prod(shape))):
        position = np.unravel_index(index, shape)
        assert flat_index(tuple(int(p) for p in position), shape) == index
        assert position_of(index, shape) == tuple(int(p) for p in position)
        assert np.ravel_multi_index(position_of(index, shape), shape) == index


def test_flat_index_refuses_positions_outside_the_volume():
    with pytest.raises(IndexError):
        flat_index((0, 3), (2, 3))
    with pytest.raises(IndexError):
        position_of(6, (2, 3))
