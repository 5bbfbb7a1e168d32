"""One training epoch of every seed of a noiseless MLP in one compiled call.

:class:`~infoplane.models.batched.BatchedMLP` steps all seeds of a group with batched torch ops;
at the sizes of the paper studies (widths 12-10-7-5-4-3-2, mini-batches of 256) most of a step
is per-call overhead: every ``bmm`` runs one small ``gemm`` per seed. Here the whole epoch of one
seed (forward pass, softmax cross-entropy, backward pass, weight decay, Adam or SGD, and the
gradient statistics of the SGD diagnostics) is one loop nest compiled by numba, with every
activation laid out (units, batch) so that the inner loops run over the mini-batch and vectorise.

What is computed is the arithmetic of :meth:`BatchedMLP.loss_and_grad` and
:class:`~infoplane.models.batched.BatchedAdam` (float32 weights and activations, the same
formulas), not its bits: the sums over the mini-batch are vectorised in another order, and
``tanh``/softmax use the vectorisable exp of :func:`_expm1_scaled` (within 1e-12 relative in
float64, so within one float32 ulp of torch's). The seeds never share arithmetic, so a seed
trained in a group is bit-identical to the seed trained alone, with no alignment conditions.

Networks with relative or additive noise (whose draws come from torch generators) keep the torch
path; so does a GPU.

Layouts (S seeds, P flat parameters per seed, as :attr:`BatchedMLP.params`): ``params``,
``exp_avg``, ``exp_avg_sq`` float32 (S, P); ``w_off``/``b_off`` (L,) int64 offsets of each
layer's (in, out) row-major weight matrix and bias in a seed's row; ``dims`` (L, 2) int64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["ACTIVATION_CODES", "fused_epoch"]

#: Activation name -> the kernel's code.
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "relu": 2, "sigmoid": 3, "leaky_relu": 4, "softplus": 5}
_TANH_CLAMP = 10.0  # tanh(10) = 1 - 4e-9 rounds to 1.0 in float32
_EXP_CLAMP = 104.0  # exp(-104) = 7e-46 rounds to 0.0 in float32
#: One compilation unit: every helper is inlined (numba IR) into :func:`_epoch`, compiled with
#: these flags, so the training's arithmetic is that of _epoch's one compiled copy, whether a
#: process compiled it or loaded it from numba's cache, whatever else was compiled or cached
#: before. (A helper compiled on its own and LLVM-inlined into a cached caller may be vectorised
#: differently, and ``reassoc`` lets vectorising change a sum's rounding: see
#: infoplane.estimators._kernels.fixed_order_sum.) The helpers' own flags matter only to tests
#: that call them directly.
_FAST = {"contract", "reassoc"}


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _expm1_scaled(t: float) -> float:
    """expm1(256 t) for 0 <= t <= 0.41 (float64), branch-free so that loops over it vectorise:
    the degree-13 Taylor polynomial of expm1(t) (truncation below 4e-17 relative), then 8
    doublings e^(2x) - 1 = q (2 + q), each keeping the full relative precision (no 1 + q)."""
    q = t * (1.0 + t * (1.0 / 2 + t * (1.0 / 6 + t * (1.0 / 24 + t * (1.0 / 120 + t * (
        1.0 / 720 + t * (1.0 / 5040 + t * (1.0 / 40320 + t * (1.0 / 362880 + t * (
            1.0 / 3628800 + t * (1.0 / 39916800 + t * (1.0 / 479001600 + t * (1.0 / 6227020800)))))))))))))
    q = q * (2.0 + q)  # written out: a loop here would keep the callers' loops from vectorising
    q = q * (2.0 + q)
    q = q * (2.0 + q)
    q = q * (2.0 + q)
    q = q * (2.0 + q)
    q = q * (2.0 + q)
    q = q * (2.0 + q)
    return q * (2.0 + q)


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _tanh(x: float) -> float:
    """tanh in float64 as expm1(2|x|) / (expm1(2|x|) + 2) with the sign of x; NaN stays NaN."""
    ax = abs(x)
    ax = _TANH_CLAMP if ax > _TANH_CLAMP else ax
    q = _expm1_scaled(ax * (2.0 / 256.0))
    r = q / (q + 2.0)
    return r if x >= 0.0 else -r


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _activate(code: int, z: np.ndarray, a: np.ndarray, units: int, nb: int) -> None:
    """a[j, n] = act(z[j, n]) for j < units, n < nb (float32 (w, B) each)."""
    for j in range(units):
        if code == 1:
            for n in range(nb):
                a[j, n] = np.float32(_tanh(np.float64(z[j, n])))
        elif code == 2:
            for n in range(nb):
                v = z[j, n]
                a[j, n] = v if (v > 0 or v != v) else np.float32(0.0)  # NaN stays NaN, as torch.clamp
        elif code == 3:
            for n in range(nb):
                a[j, n] = np.float32(1.0 / (1.0 + math.exp(-np.float64(z[j, n]))))
        elif code == 4:
            for n in range(nb):
                v = z[j, n]
                a[j, n] = v if v > 0 else v * np.float32(0.01)
        elif code == 5:  # torch's softplus: beta 1, linear above 20
            for n in range(nb):
                v = np.float64(z[j, n])
                a[j, n] = np.float32(v if v > 20.0 else math.log1p(math.exp(v)))
        else:
            for n in range(nb):
                a[j, n] = z[j, n]


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _activation_grad(code: int, da: np.ndarray, z: np.ndarray, a: np.ndarray, units: int, nb: int) -> None:
    """da[j, n] <- d loss / d z from d loss / d a, in place, as torch's backward kernels."""
    for j in range(units):
        if code == 1:
            for n in range(nb):
                da[j, n] = da[j, n] * (np.float32(1.0) - a[j, n] * a[j, n])
        elif code == 2:
            for n in range(nb):
                da[j, n] = np.float32(0.0) if a[j, n] <= 0 else da[j, n]
        elif code == 3:
            for n in range(nb):
                da[j, n] = da[j, n] * (np.float32(1.0) - a[j, n]) * a[j, n]
        elif code == 4:
            for n in range(nb):
                da[j, n] = da[j, n] if z[j, n] > 0 else da[j, n] * np.float32(0.01)
        elif code == 5:
            for n in range(nb):
                v = np.float64(z[j, n])
                if v <= 20.0:
                    e = math.exp(v)
                    da[j, n] = np.float32(np.float64(da[j, n]) * (e / (e + 1.0)))


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _linear(w: np.ndarray, wo: int, bo: int, d_in: int, d_out: int, u: np.ndarray, z: np.ndarray, nb: int) -> None:
    """z[j, n] = b[j] + sum_i W[i, j] u[i, n] (W, b: one seed's row ``w`` at offsets wo, bo)."""
    for j in range(d_out):
        bj = w[bo + j]
        for n in range(nb):
            z[j, n] = bj
        for i in range(d_in):
            wij = w[wo + i * d_out + j]
            for n in range(nb):
                z[j, n] += wij * u[i, n]


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _softmax_grad(z: np.ndarray, y: np.ndarray, rows: np.ndarray, start: int, classes: int, nb: int,
                  dz: np.ndarray, m: np.ndarray, s: np.ndarray, e: np.ndarray) -> float:
    """dz[c, n] = (softmax(z[:, n])_c - [c == y_n]) / nb, the gradient of the mean cross-entropy
    over the mini-batch (in float64, then rounded: p - 1 keeps its precision when p is near 1);
    returns the float64 sum of the logits (finite iff every logit is, i.e. iff every loss is).
    ``m``, ``s``: float64 scratch (>= nb); ``e``: float64 scratch (>= classes, >= nb)."""
    total = 0.0
    for n in range(nb):
        m[n] = z[0, n]
        s[n] = 0.0
    for c in range(1, classes):
        for n in range(nb):
            v = np.float64(z[c, n])
            m[n] = v if v > m[n] else m[n]
    for c in range(classes):
        for n in range(nb):
            v = np.float64(z[c, n])
            total += v
            d = m[n] - v
            d = _EXP_CLAMP if d > _EXP_CLAMP else d
            ec = 1.0 / (1.0 + _expm1_scaled(d * (1.0 / 256.0)))
            e[c, n] = ec
            s[n] += ec
    inv_b = 1.0 / nb
    for c in range(classes):
        for n in range(nb):
            p = e[c, n] / s[n]
            dz[c, n] = np.float32(((p - 1.0) if y[rows[start + n]] == c else p) * inv_b)
    return total


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _weight_grads(u: np.ndarray, dz: np.ndarray, d_in: int, d_out: int, nb: int, g: np.ndarray, wo: int,
                  bo: int) -> None:
    """g[W_ij] = sum_n u[i, n] dz[j, n]; g[b_j] = sum_n dz[j, n] (float32 sums)."""
    for i in range(d_in):
        for j in range(d_out):
            acc = np.float32(0.0)
            for n in range(nb):
                acc += u[i, n] * dz[j, n]
            g[wo + i * d_out + j] = acc
    for j in range(d_out):
        acc = np.float32(0.0)
        for n in range(nb):
            acc += dz[j, n]
        g[bo + j] = acc


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _input_grads(w: np.ndarray, wo: int, d_in: int, d_out: int, dz: np.ndarray, du: np.ndarray, nb: int) -> None:
    """du[i, n] = sum_j W[i, j] dz[j, n]."""
    for i in range(d_in):
        for n in range(nb):
            du[i, n] = 0.0
        for j in range(d_out):
            wij = w[wo + i * d_out + j]
            for n in range(nb):
                du[i, n] += wij * dz[j, n]


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _adam(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float, b1: float, b2: float, eps: float,
          step: int) -> None:
    """One step of :class:`~infoplane.models.batched.BatchedAdam` on one seed's row (float32)."""
    bc1 = 1.0 - b1**step
    bc2_sqrt = math.sqrt(1.0 - b2**step)
    w1 = np.float32(1.0 - b1)
    c2, w2 = np.float32(b2), np.float32(1.0 - b2)
    inv_bc2, e32, step_size = np.float32(1.0 / bc2_sqrt), np.float32(eps), np.float32(lr / bc1)
    for p in range(w.shape[0]):
        gp = g[p]
        mp = m[p] + w1 * (gp - m[p])
        vp = v[p] * c2 + w2 * gp * gp
        m[p] = mp
        v[p] = vp
        w[p] -= step_size * (mp / (np.sqrt(vp) * inv_bc2 + e32))


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _welford(g: np.ndarray, mean: np.ndarray, m2: np.ndarray, count: int) -> None:
    """Add one gradient (float32 (P,)) to a float64 running mean and sum of squared deviations."""
    for p in range(g.shape[0]):
        x = np.float64(g[p])
        delta = x - mean[p]
        mean[p] += delta / count
        m2[p] += delta * (x - mean[p])


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _seed_epoch(
    s: int, params: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, w_off: np.ndarray, b_off: np.ndarray,
    dims: np.ndarray, x: np.ndarray, y: np.ndarray, perms: np.ndarray, batch: int, act: int, weight_decay: float,
    adam: bool, lr: float, b1: float, b2: float, eps: float, step0: int, track: bool, mean: np.ndarray,
    m2: np.ndarray,
) -> bool:
    """One epoch of seed ``s`` (see :func:`fused_epoch`); returns whether every mini-batch loss was
    finite."""
    n_layers = dims.shape[0]
    width = max(dims[0, 0], dims[:, 1].max())
    nb_max = min(batch, x.shape[0])
    zs = np.empty((n_layers, width, nb_max), np.float32)
    acts = np.empty((n_layers, width, nb_max), np.float32)
    u0 = np.empty((dims[0, 0], nb_max), np.float32)
    du = np.empty((width, nb_max), np.float32)
    mx, sm = np.empty(nb_max), np.empty(nb_max)
    ex = np.empty((dims[n_layers - 1, 1], nb_max))
    g = np.zeros(params.shape[1], np.float32)
    w = params[s]
    rows = perms[s]
    n_train = x.shape[0]
    finite = True
    step = step0
    for k, start in enumerate(range(0, n_train, batch)):
        nb = min(batch, n_train - start)
        for n in range(nb):
            r = rows[start + n]
            for i in range(dims[0, 0]):
                u0[i, n] = x[r, i]
        for layer in range(n_layers):
            u = u0 if layer == 0 else acts[layer - 1]
            _linear(w, w_off[layer], b_off[layer], dims[layer, 0], dims[layer, 1], u, zs[layer], nb)
            if layer < n_layers - 1:
                _activate(act, zs[layer], acts[layer], dims[layer, 1], nb)
        last = n_layers - 1
        dz = acts[last]  # the logits' gradient (the output layer has no activation)
        total = _softmax_grad(zs[last], y, rows, start, dims[last, 1], nb, dz, mx, sm, ex)
        finite = finite and math.isfinite(total)
        for layer in range(last, -1, -1):
            u = u0 if layer == 0 else acts[layer - 1]
            d_in, d_out = dims[layer, 0], dims[layer, 1]
            _weight_grads(u, dz, d_in, d_out, nb, g, w_off[layer], b_off[layer])
            if weight_decay > 0 and layer < last:
                wd = np.float32(weight_decay)
                for p in range(w_off[layer], w_off[layer] + d_in * d_out):
                    g[p] += wd * w[p]
            if layer == 0:
                break
            _input_grads(w, w_off[layer], d_in, d_out, dz, du, nb)
            _activation_grad(act, du, zs[layer - 1], acts[layer - 1], d_in, nb)
            # the layer below's activations are not needed any more: its dz goes there
            for i in range(d_in):
                for n in range(nb):
                    acts[layer - 1][i, n] = du[i, n]
            dz = acts[layer - 1]
        if track:
            _welford(g, mean[s], m2[s], k + 1)
        step += 1
        if adam:
            _adam(w, g, exp_avg[s], exp_avg_sq[s], lr, b1, b2, eps, step)
        else:
            lr32 = np.float32(lr)
            for p in range(w.shape[0]):
                w[p] -= lr32 * g[p]
    return finite


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST)
def _epoch(
    active: np.ndarray, params: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, w_off: np.ndarray,
    b_off: np.ndarray, dims: np.ndarray, x: np.ndarray, y: np.ndarray, perms: np.ndarray, batch: int, act: int,
    weight_decay: float, adam: bool, lr: float, b1: float, b2: float, eps: float, step0: int, track: bool,
    mean: np.ndarray, m2: np.ndarray, finite: np.ndarray,
) -> None:
    for s in range(params.shape[0]):
        if active[s]:
            finite[s] = _seed_epoch(s, params, exp_avg, exp_avg_sq, w_off, b_off, dims, x, y, perms, batch, act,
                                    weight_decay, adam, lr, b1, b2, eps, step0, track, mean, m2)


def fused_epoch(
    params: np.ndarray,
    exp_avg: np.ndarray | None,
    exp_avg_sq: np.ndarray | None,
    w_off: np.ndarray,
    b_off: np.ndarray,
    dims: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    perms: np.ndarray,
    batch_size: int,
    activation: str,
    *,
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    step0: int = 0,
    active: np.ndarray | None = None,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Train every active seed one epoch in place; return (S,) bool: all mini-batch losses finite.

    Parameters
    ----------
    params : float32 (S, P), C-contiguous; updated in place.
    exp_avg, exp_avg_sq : float32 (S, P) Adam moments (updated in place), or both None for SGD.
    w_off, b_off : int64 (L,) offsets of the (in, out) weights and the biases in a row of params.
    dims : int64 (L, 2) (in, out) of every layer; the last is the output layer (no activation).
    x : float32 (N, in_0) training inputs; y : int64 (N,) labels.
    perms : int64 (S, N): each seed's order of the training rows; mini-batches are consecutive
        slices of ``batch_size`` (the last may be shorter).
    activation : a key of :data:`ACTIVATION_CODES`.
    lr, weight_decay, betas, eps : the optimiser (``weight_decay`` = lambda adds lambda W to the
        gradients of every weight matrix but the output layer's).
    step0 : Adam steps taken before this epoch (the bias corrections continue from it).
    active : bool (S,): seeds to train (default all); the others are left untouched.
    stats : (mean, m2) float64 (S, P), zeroed: filled with the running mean and sum of squared
        deviations of the mini-batch gradients (Welford), for the SGD diagnostics.
    """
    s_count = params.shape[0]
    active = np.ones(s_count, dtype=np.bool_) if active is None else np.asarray(active, dtype=np.bool_)
    adam = exp_avg is not None and exp_avg_sq is not None
    empty = np.zeros((s_count, 0), np.float32)
    m1, m2nd = (exp_avg, exp_avg_sq) if exp_avg is not None and exp_avg_sq is not None else (empty, empty)
    mean, m2 = stats if stats is not None else (np.zeros((s_count, 0)), np.zeros((s_count, 0)))
    finite = np.ones(s_count, dtype=np.bool_)
    _epoch(active, params, m1, m2nd, w_off, b_off, dims, x, y,
           perms, int(batch_size), ACTIVATION_CODES[activation], float(weight_decay), adam, float(lr),
           float(betas[0]), float(betas[1]), float(eps), int(step0), stats is not None, mean, m2, finite)
    return finite
