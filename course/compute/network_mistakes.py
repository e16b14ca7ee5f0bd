"""Lesson 06's network and training loop computed wrong, in the ways the checks recognise.

``network_with_switches`` is the two-layer network written out in one
function (affine, relu, inverted dropout with a given mask, affine, softmax
cross-entropy, L2 on the weights), forward and backward; right by default,
each switch turned is one known mistake. The wrong training loops below are
the course's mini-batch SGD loop with one mistake each.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from course.compute.network import minibatches
from course.compute.softmax import log_softmax

TIE_SHARES = (0.5, 0.0, 1.0)  # relu's gradient at exactly 0: the course's, then the frameworks' choices


# ----- the network, written out ----------------------------------------------------

def forward_pass(x, W1, b1, W2, b2, mask, keep_prob):
    """(z, h, hd, scores): pre-activation, relu, after dropout, scores."""
    z = x @ W1 + b1
    h = np.maximum(0.0, z)
    hd = h * mask / keep_prob
    scores = hd @ W2 + b2
    return z, h, hd, scores


def loss_and_dscores(scores, y, n_divisor=True, shift=True):
    """Mean cross-entropy and its gradient on the scores (without the 1/N when ``n_divisor`` is False;
    without subtracting each row's max, so that large scores overflow, when ``shift`` is False)."""
    n = scores.shape[0]
    if shift:
        log_p = log_softmax(scores)
    else:
        exp = np.exp(scores)
        log_p = np.log(exp / exp.sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(n), y].mean())
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1.0
    return loss, (dscores / n if n_divisor else dscores)


def relu_share(z, tie):
    """relu's local gradient: 1 where z > 0, 0 where z < 0, ``tie`` where z is exactly 0."""
    return np.where(z > 0, 1.0, np.where(z < 0, 0.0, tie))


def network_with_switches(x, y, W1, b1, W2, b2, l2, mask, keep_prob, *, tie=0.5, l2_grad=1.0, l2_loss=0.5,
                          l2_bias=False, n_divisor=True, mask_back=True, scale_back=True, relu_back=True,
                          dW2_input="hd", shift=True):
    """(loss, dW1, db1, dW2, db2) of the network; each switch off its default is one known mistake.

    - ``tie``: relu's gradient at exactly 0 (any of ``TIE_SHARES`` is right);
    - ``l2_grad``, ``l2_loss``: the factors of λW in the gradient (1) and of λ·ΣW² in the loss (1/2);
    - ``l2_bias``: the biases decayed too;
    - ``n_divisor``: False leaves out the 1/N of the mean loss in dscores;
    - ``mask_back``, ``scale_back``: dropout's mask and 1/keep_prob in the backward pass;
    - ``relu_back``: False passes the gradient through relu unchanged;
    - ``dW2_input``: "h" takes the activations before dropout as the second layer's input;
    - ``shift``: False leaves out softmax's max shift (large scores overflow to NaN).
    """
    z, h, hd, scores = forward_pass(x, W1, b1, W2, b2, mask, keep_prob)
    loss, dscores = loss_and_dscores(scores, y, n_divisor, shift)
    loss += l2_loss * l2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    dW2 = {"hd": hd, "h": h}[dW2_input].T @ dscores + l2_grad * l2 * W2
    db2 = dscores.sum(axis=0, keepdims=True)
    dhd = dscores @ W2.T
    dh = dhd * (mask if mask_back else 1.0) / (keep_prob if scale_back else 1.0)
    dz = dh * relu_share(z, tie) if relu_back else dh
    dW1 = x.T @ dz + l2_grad * l2 * W1
    db1 = dz.sum(axis=0, keepdims=True)
    if l2_bias:
        loss += 0.5 * l2 * (np.sum(b1 ** 2) + np.sum(b2 ** 2))
        db1, db2 = db1 + l2 * b1, db2 + l2 * b2
    return loss, dW1, db1, dW2, db2


# ----- training loops: loop(net, x, y, lr, epochs, batch_size, rng) -> losses ------

def _loop_stepping_with(update: Callable) -> Callable:
    """The mini-batch SGD loop with ``update(param, lr * grad)`` as its step of each parameter."""
    def loop(net, x, y, lr, epochs, batch_size, rng):
        losses = []
        for _ in range(epochs):
            for batch in minibatches(len(y), batch_size, rng):
                loss, grads = net.loss_and_grads(x[batch], y[batch])
                for name, param in net.params.items():
                    update(param, lr * grads[name])
                losses.append(loss)
        return losses
    return loop


def _rebind(param, change):
    param = param - change  # noqa: F841 (the mistake: a new array bound to a local name; the network's is untouched)


def _ascend(param, change):
    param += change  # in place, but up the gradient


rebinding_loop = _loop_stepping_with(_rebind)  # the network never changes
ascent_loop = _loop_stepping_with(_ascend)  # the loss rises


def epoch_losses(loop: Callable) -> Callable:
    """``loop`` returning one mean loss per epoch instead of one loss per step."""
    def wrong(net, x, y, lr, epochs, batch_size, rng):
        losses = loop(net, x, y, lr, epochs, batch_size, rng)
        per_epoch = len(losses) // epochs
        return [float(np.mean(losses[i:i + per_epoch])) for i in range(0, len(losses), per_epoch)]
    return wrong


def full_batch(loop: Callable) -> Callable:
    """``loop`` ignoring ``batch_size``: one step per epoch on the whole data."""
    def wrong(net, x, y, lr, epochs, batch_size, rng):
        return loop(net, x, y, lr, epochs, len(y), rng)
    return wrong


# ----- lesson 06's bug hunt: the given backward pass and its fixes ------------------------

def buggy_backward(x, y, W1, b1, W2, b2, l2):
    """The given backward pass (shown in the notebook) whose loss curve levels off too high."""
    z = x @ W1 + b1
    h = np.maximum(0.0, z)
    _, dscores = loss_and_dscores(h @ W2 + b2, y)
    dW2 = h.T @ dscores
    db2 = dscores.sum(axis=0, keepdims=True)
    dh = dscores @ W2.T
    dz = dh * (h >= 0)
    dW1 = x.T @ dz + l2 * W1
    db1 = dz.sum(axis=0, keepdims=True)
    return dW1, db1, dW2, db2


def fixed_backward(x, y, W1, b1, W2, b2, l2):
    """The bug hunt's answer: ``buggy_backward`` with relu's gradient and dW2's L2 term put right."""
    return partly_fixed(x, y, W1, b1, W2, b2, l2)


def partly_fixed(x, y, W1, b1, W2, b2, l2, tie=0.5, relu_fixed=True, l2_fixed=True, l2_w1=True):
    """The bug hunt with each fix made or not (and dW1's L2 term dropped): the hints' wrong answers."""
    ones = np.ones((x.shape[0], W1.shape[1]))
    _, dW1, db1, dW2, db2 = network_with_switches(x, y, W1, b1, W2, b2, l2, ones, 1.0, tie=tie)
    if not l2_fixed:
        dW2 = dW2 - l2 * W2
    if not relu_fixed:
        dW1, db1 = buggy_backward(x, y, W1, b1, W2, b2, 0.0)[:2]
        dW1 = dW1 + l2 * W1
    if not l2_w1:
        dW1 = dW1 - l2 * W1
    return dW1, db1, dW2, db2
