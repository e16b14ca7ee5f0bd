"""Plausible wrong answers to the exercises of concepts 06 and 07, written as learners write them.

Each learner function below is one way to solve the exercise, with keywords
for the slips people make; ``CORPUS`` lists, per exercise, the wrong answers
(name, function). tests/test_hint_specificity.py runs them through the checks
and measures how many of the rejections name the mistake rather than saying
"`dx` is not right. Work the example through by hand" in general.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from course.compute.batchnorm import BatchNorm

H = 1e-5


# ----- 06.network_loss --------------------------------------------------------------------------

def network(x, y, W1, b1, W2, b2, l2, mask, keep_prob, *, l2_grad=1.0, l2_loss=0.5, decay_bias=False, mean=True,
            mask_back=True, scale_back=True, relu_back="z", dw2_from="dropped", shift=True, db_axis=0):
    n = x.shape[0]
    z = x @ W1 + b1
    h = np.maximum(0, z)
    hd = h * mask / keep_prob
    s = hd @ W2 + b2
    e = np.exp(s - s.max(axis=1, keepdims=True)) if shift else np.exp(s)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y])) + l2_loss * l2 * (np.sum(W1 * W1) + np.sum(W2 * W2))
    d = p.copy()
    d[np.arange(n), y] -= 1
    if mean:
        d /= n
    dW2 = (hd if dw2_from == "dropped" else h).T @ d + l2_grad * l2 * W2
    db2 = d.sum(axis=db_axis, keepdims=True)
    dh = d @ W2.T
    if mask_back:
        dh = dh * mask
    if scale_back:
        dh = dh / keep_prob
    dz = dh * (z > 0) if relu_back == "z" else dh * (h >= 0) if relu_back == "h" else dh
    dW1 = x.T @ dz + l2_grad * l2 * W1
    db1 = dz.sum(axis=db_axis, keepdims=True)
    if decay_bias:
        loss += 0.5 * l2 * (np.sum(b1 ** 2) + np.sum(b2 ** 2))
        db1, db2 = db1 + l2 * b1, db2 + l2 * b2
    return loss, dW1, db1, dW2, db2


def _network_transposed(*a):
    loss, dW1, db1, dW2, db2 = network(*a)
    return loss, dW1.T, db1, dW2, db2


NETWORK_LOSS = [(name, partial(network, **kw)) for name, kw in [
    ("no L2 gradient", dict(l2_grad=0.0)), ("2λW", dict(l2_grad=2.0)), ("λΣW² in the loss", dict(l2_loss=1.0)),
    ("biases decayed", dict(decay_bias=True)), ("no 1/N", dict(mean=False)), ("mask forgotten", dict(mask_back=False)),
    ("scale forgotten", dict(scale_back=False)), ("dW2 from h", dict(dw2_from="h")),
    ("relu on h >= 0", dict(relu_back="h")), ("relu skipped", dict(relu_back="none")), ("no max shift", dict(shift=False)),
    ("biases summed over axis 1", dict(db_axis=1)),
]] + [("dW1 transposed", _network_transposed)]


# ----- 06.l2_term -------------------------------------------------------------------------------

def l2(W1, W2, l2, *, half=True, grad=1.0, reduce=np.sum, only_w1=False):
    total = reduce(W1 ** 2) + (0.0 if only_w1 else reduce(W2 ** 2))
    return float((0.5 if half else 1.0) * l2 * total), grad * l2 * W1, grad * l2 * W2


def _l2_norm(W1, W2, l2):
    return float(0.5 * l2 * (np.linalg.norm(W1) + np.linalg.norm(W2))), l2 * W1, l2 * W2


def _l2_no_lambda_in_grad(W1, W2, l2):
    return float(0.5 * l2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))), W1, W2


L2_TERM = [(name, partial(l2, **kw)) for name, kw in [
    ("no 1/2", dict(half=False)), ("2λW", dict(grad=2.0)), ("mean of squares", dict(reduce=np.mean)),
    ("λ/2 W", dict(grad=0.5)), ("W2 forgotten in the penalty", dict(only_w1=True)),
]] + [("norm, not squared", _l2_norm), ("λ missing in the gradient", _l2_no_lambda_in_grad)]


# ----- 06.train_loop ----------------------------------------------------------------------------

def loop(net, x, y, lr, epochs, batch_size, rng, *, shuffle="each", last=True, step="right", report="step",
         source="rng", replace=False):
    losses, fixed = [], rng.permutation(len(y))
    for _ in range(epochs):
        if shuffle == "each":
            order = (np.random.permutation(len(y)) if source == "global" else rng.permutation(len(y)))
        else:
            order = fixed if shuffle == "once" else np.arange(len(y))
        stop = len(y) if last else len(y) - len(y) % batch_size
        epoch = []
        for start in range(0, stop, batch_size):
            batch = order[start:start + batch_size]
            if replace:
                batch = rng.integers(0, len(y), len(batch))
            loss, grads = net.loss_and_grads(x[batch], y[batch])
            for name, param in net.params.items():
                if step == "right":
                    param -= lr * grads[name]
                elif step == "per_example":
                    param -= lr * grads[name] / len(batch)
                elif step == "up":
                    param += lr * grads[name]
                else:  # rebinds the loop's name
                    param = param - lr * grads[name]  # noqa: F841
            epoch.append(loss)
        losses += [float(np.mean(epoch))] if report == "epoch" else epoch
    return losses


TRAIN_LOOP = [(name, partial(loop, **kw)) for name, kw in [
    ("never shuffles", dict(shuffle="never")), ("shuffles once", dict(shuffle="once")),
    ("np.random", dict(source="global")), ("drops the last batch", dict(last=False)),
    ("with replacement", dict(replace=True)), ("divides the step by the batch", dict(step="per_example")),
    ("steps up", dict(step="up")), ("rebinds param", dict(step="rebind")), ("one loss per epoch", dict(report="epoch")),
]]


# ----- 06.grad_check ----------------------------------------------------------------------------

def checker(f, x, analytic, entries, *, h=H, central=True, tol=1e-6, relative=True, den="sum", decide=max,
            restore="assign", copies=False, returns="bool"):
    errors = []
    for index in entries:
        if copies:
            up, down = x.copy(), x.copy()
            up[index] += h
            down[index] -= h if central else 0.0
            numeric = (f(up) - f(down)) / (2 * h if central else h)
        elif restore == "arithmetic":  # there and back by adding and subtracting h
            x[index] += h
            plus = f(x)
            x[index] -= 2 * h
            minus = f(x)
            x[index] += h
            numeric = (plus - minus) / (2 * h)
        else:
            saved = x[index]
            x[index] = saved + h
            plus = f(x)
            x[index] = saved - h if central else saved
            minus = f(x)
            if restore == "assign":
                x[index] = saved
            numeric = (plus - minus) / (2 * h if central else h)
        a = analytic[index]
        scale = {"sum": abs(a) + abs(numeric), "max": max(abs(a), abs(numeric)), "a": abs(a)}[den]
        errors.append(abs(a - numeric) / max(scale, 1e-8) if relative else abs(a - numeric))
    worst = decide(errors)
    return worst if returns == "error" else bool(worst <= tol)


GRAD_CHECK = [(name, partial(checker, **kw)) for name, kw in [
    ("absolute error", dict(relative=False)), ("threshold 1e-4", dict(tol=1e-4)), ("threshold 1e-2", dict(tol=1e-2)),
    ("one-sided", dict(central=False)), ("h = 1e-10", dict(h=1e-10)), ("h = 1e-2", dict(h=1e-2)),
    ("the mean error", dict(decide=np.mean)), ("max(|a|, |n|)", dict(den="max")), ("|a| alone", dict(den="a")),
    ("returns the error", dict(returns="error")), ("never puts x back", dict(restore="none")),
    ("puts x back by arithmetic", dict(restore="arithmetic")), ("nudges copies", dict(copies=True)),
]]


# ----- 06.bug_hunt ------------------------------------------------------------------------------

def hunt(x, y, W1, b1, W2, b2, l2, *, relu="z", l2_w2=True, l2_w1=True):
    n = x.shape[0]
    z = x @ W1 + b1
    h = np.maximum(0.0, z)
    s = h @ W2 + b2
    e = np.exp(s - s.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    d = p.copy()
    d[np.arange(n), y] -= 1
    d /= n
    dW2 = h.T @ d + (l2 * W2 if l2_w2 else 0)
    db2 = d.sum(axis=0, keepdims=True)
    dh = d @ W2.T
    dz = dh * (z > 0) if relu == "z" else dh * (h >= 0) if relu == "h" else dh * (h > 0.5)
    dW1 = x.T @ dz + (l2 * W1 if l2_w1 else 0)
    return dW1, dz.sum(axis=0, keepdims=True), dW2, db2


BUG_HUNT = [(name, partial(hunt, **kw)) for name, kw in [
    ("only relu fixed", dict(l2_w2=False)), ("only L2 fixed", dict(relu="h")), ("neither fixed", dict(relu="h", l2_w2=False)),
    ("L2 moved, not added", dict(l2_w1=False)),
]]


# ----- 07.batchnorm_staged and 07.batchnorm_compact ----------------------------------------------

def staged(x, gamma, beta, eps, dout, *, axis=0, ddof=0, eps_out=False, gamma_in_dx=True, mean_path=True,
           var_path=True, n_in_var=True, n_in_mean=True, overwrite=False, back_axis=0, dmu_sign=-1.0):
    n = x.shape[axis]
    mu = x.mean(axis=axis, keepdims=True)
    xmu = x - mu
    var = (xmu ** 2).sum(axis=axis, keepdims=True) / (n - ddof)
    std = np.sqrt(var) + eps if eps_out else np.sqrt(var + eps)
    xhat = xmu / std
    out = gamma * xhat + beta
    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = (dout * xhat).sum(axis=0, keepdims=True)
    dxhat = dout * gamma if gamma_in_dx else dout
    dxmu = dxhat / std
    dstd = -(dxhat * xmu).sum(axis=back_axis, keepdims=True) / std ** 2
    dvar = dstd / (2 * std)
    dsq = np.ones_like(x) * dvar / (n if n_in_var else 1)
    if var_path:
        dxmu = 2 * xmu * dsq if overwrite else dxmu + 2 * xmu * dsq
    dmu = dmu_sign * dxmu.sum(axis=back_axis, keepdims=True)
    dx = dxmu + (np.ones_like(x) * dmu / (n if n_in_mean else 1) if mean_path else 0.0)
    return out, dx, dgamma, dbeta


STAGED = [(name, partial(staged, **kw)) for name, kw in [
    ("γ left out of dx", dict(gamma_in_dx=False)), ("no path through μ", dict(mean_path=False)),
    ("no path through σ²", dict(var_path=False)), ("direct path only", dict(mean_path=False, var_path=False)),
    ("no 1/N on the σ² path", dict(n_in_var=False)), ("no 1/N on the μ path", dict(n_in_mean=False)),
    ("fork overwritten", dict(overwrite=True)), ("backward sums over axis 1", dict(back_axis=1)),
    ("dμ with the wrong sign", dict(dmu_sign=1.0)), ("N − 1", dict(ddof=1)), ("ε outside the root", dict(eps_out=True)),
    ("statistics over axis 1", dict(axis=1)),
]]


def compact(dout, x, gamma, eps, *, with_gamma=True, over_n=True, axis=0, dgamma_of_x=False, mean_term=True,
            var_term=True, ddof=0, eps_out=False, n_dout=True):
    n = x.shape[0]
    mu = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, ddof=ddof, keepdims=True)
    std = np.sqrt(var) + eps if eps_out else np.sqrt(var + eps)
    xhat = (x - mu) / std
    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = (dout * (x if dgamma_of_x else xhat)).sum(axis=0, keepdims=True)
    sum_dout = dout.sum(axis=axis, keepdims=True)
    sum_dxhat = (dout * xhat).sum(axis=axis, keepdims=True)
    inner = (n if n_dout else 1) * dout - (sum_dout if mean_term else 0) - (xhat * sum_dxhat if var_term else 0)
    dx = (gamma if with_gamma else 1.0) / ((n if over_n else 1) * std) * inner
    return dx, dgamma, dbeta


COMPACT = [(name, partial(compact, **kw)) for name, kw in [
    ("γ left out", dict(with_gamma=False)), ("no 1/N", dict(over_n=False)), ("sums over axis 1", dict(axis=1)),
    ("dgamma from x", dict(dgamma_of_x=True)), ("no μ term", dict(mean_term=False)), ("no σ² term", dict(var_term=False)),
    ("direct term only", dict(mean_term=False, var_term=False)), ("N − 1", dict(ddof=1)), ("ε outside", dict(eps_out=True)),
    ("dout without its N", dict(n_dout=False)),
]]


# ----- 07.running_stats -------------------------------------------------------------------------

def layer(x, gamma, beta, running_mean, running_var, momentum, eps, train, *, reversed_momentum=False,
          batch_at_test=False, update_at_test=False, update_in_training=True, ddof=0, running_in_training=False,
          alias=False, eps_out=False):
    mu, var = x.mean(axis=0, keepdims=True), x.var(axis=0, ddof=ddof, keepdims=True)
    keep = 1 - momentum if reversed_momentum else momentum
    moved = keep * running_mean + (1 - keep) * mu, keep * running_var + (1 - keep) * var
    if train:
        new_mean, new_var = moved if update_in_training else (running_mean.copy(), running_var.copy())
        if running_in_training:
            mu, var = new_mean, new_var
    else:
        new_mean, new_var = moved if update_at_test else ((running_mean, running_var) if alias
                                                          else (running_mean.copy(), running_var.copy()))
        if not batch_at_test:
            mu, var = running_mean, running_var
    std = np.sqrt(var) + eps if eps_out else np.sqrt(var + eps)
    return gamma * (x - mu) / std + beta, new_mean, new_var


RUNNING = [(name, partial(layer, **kw)) for name, kw in [
    ("momentum reversed", dict(reversed_momentum=True)), ("batch statistics at test", dict(batch_at_test=True)),
    ("updates at test", dict(update_at_test=True)), ("never updates", dict(update_in_training=False)),
    ("running variance with N − 1", dict(ddof=1)), ("normalises with the running ones", dict(running_in_training=True)),
    ("returns its inputs at test", dict(alias=True)), ("ε outside", dict(eps_out=True)),
]]


# ----- 07.broadcast_rule ------------------------------------------------------------------------

def broadcast(x, v, dout, *, dx="right", dv="right"):
    r = x.sum(axis=1, keepdims=True)
    dr = (dout * v).sum(axis=1, keepdims=True)
    got_dx = {"right": np.broadcast_to(dr, x.shape).copy(), "not summed": dout * v, "not broadcast": dr,
              "times v": np.broadcast_to(dr, x.shape) * v, "no upstream": np.broadcast_to(v.sum(), x.shape).copy(),
              "summed over rows": np.broadcast_to((dout * v).sum(axis=0, keepdims=True), x.shape).copy()}[dx]
    got_dv = {"right": (dout * r).sum(axis=0, keepdims=True), "not summed": dout * r,
              "wrong axis": (dout * r).sum(axis=1, keepdims=True), "x for r": (dout * x).sum(axis=0, keepdims=True),
              "no upstream": np.broadcast_to(r.sum(), v.shape).copy(), "mean": (dout * r).mean(axis=0, keepdims=True)}[dv]
    return got_dx, got_dv


BROADCAST = [(f"dx {dx}, dv {dv}", partial(broadcast, dx=dx, dv=dv)) for dx, dv in [
    ("not summed", "right"), ("not broadcast", "right"), ("times v", "right"), ("no upstream", "right"),
    ("summed over rows", "right"), ("right", "not summed"), ("right", "wrong axis"), ("right", "x for r"),
    ("right", "no upstream"), ("right", "mean"),
]]


# ----- 07.network_batchnorm ---------------------------------------------------------------------

class Learner(BatchNorm):
    """A learner's module on the course's own pieces, with the slip its keywords ask for."""

    def __init__(self, width, *, slip=""):
        super().__init__(width, momentum=0.9, eps=1e-5)
        self.slip = slip

    def forward(self, x):
        if self.slip == "batch at test" and not self.training:
            mu, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
            return self.params["gamma"] * (x - mu) / np.sqrt(var + self.eps) + self.params["beta"]
        if self.slip == "no running update" and self.training:
            mean, var = self.running.mean.copy(), self.running.var.copy()
            out = super().forward(x)
            self.running.mean, self.running.var = mean, var
            return out
        if self.slip == "momentum reversed" and self.training:
            mean, var = self.running.mean.copy(), self.running.var.copy()
            out = super().forward(x)
            m = self.running.momentum
            self.running.mean = (1 - m) * mean + m * self.cache.mu
            self.running.var = (1 - m) * var + m * self.cache.var
            return out
        return super().forward(x)

    def backward(self, dout):
        dx = super().backward(dout)
        c, g = self.cache, self.params["gamma"]
        if self.slip == "constants":
            return dout * g * c.istd
        if self.slip == "no gamma":
            return dx / g
        if self.slip == "dgamma not summed":
            self.grads["gamma"] = dout * c.x_hat
        if self.slip == "no 1/N":
            return dx * dout.shape[0]
        return dx


NETWORK = [(slip, lambda width, slip=slip: Learner(width, slip=slip)) for slip in
           ("batch at test", "no running update", "momentum reversed", "constants", "no gamma", "dgamma not summed",
            "no 1/N")]


CORPUS = {
    "06.network_loss": NETWORK_LOSS, "06.l2_term": L2_TERM, "06.train_loop": TRAIN_LOOP, "06.grad_check": GRAD_CHECK,
    "06.bug_hunt": BUG_HUNT, "07.batchnorm_staged": STAGED, "07.batchnorm_compact": COMPACT,
    "07.running_stats": RUNNING, "07.broadcast_rule": BROADCAST, "07.network_batchnorm": NETWORK,
}
