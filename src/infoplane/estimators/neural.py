"""Neural variational lower bounds on MI: MINE (Donsker-Varadhan) and InfoNCE.

- MINE: Belghazi, M. I., Baratin, A., Rajeswar, S., Ozair, S., Bengio, Y., Courville, A. &
  Hjelm, R. D. (2018). Mutual Information Neural Estimation. ICML 2018.
- InfoNCE: van den Oord, A., Li, Y. & Vinyals, O. (2018). Representation learning with
  contrastive predictive coding. arXiv:1807.03748. (Bounds compared in Poole, B., Ozair, S.,
  van den Oord, A., Alemi, A. & Tucker, G. (2019). On variational bounds of mutual
  information. ICML 2019.)

Common procedure (both estimators):

1. Inputs: float columns are centred and scaled to unit standard deviation (an invertible map
   of each side: the MI is unchanged); constant columns are dropped, and a side that is
   entirely constant gives 0 bits. Integer (discrete) sides are **one-hot encoded**: each
   distinct row is a symbol (at most ``MAX_SYMBOLS`` distinct symbols, else ValueError: for
   sample ids use a plug-in estimator).
2. Split: a seeded random permutation puts half of the samples (``n // 2``) in a training set
   and the rest in a **held-out evaluation set**. The critic is trained on the first half only
   and the bound is evaluated on the second, so the estimate is not inflated by the critic
   memorising its training pairs.
3. Training: ``steps`` Adam steps (learning rate ``lr``) on mini-batches of ``batch_size``
   pairs drawn with replacement from the training half. Everything random (initialisation,
   split, batches, shuffles) comes from one ``torch.Generator`` seeded with ``seed`` (the split
   from ``numpy.random.default_rng(seed)``), and training runs on one CPU thread, so the same
   seed gives the same value, bit for bit, on a given torch build, whatever the thread settings
   of the process (``torch.set_num_threads`` is process-global: it is set to 1 for the fit and
   restored afterwards, so run neural estimates in worker *processes*, not several threads of
   one process).
4. Result in bits (:func:`infoplane.units.nats_to_bits`), with a first-order (delta-method)
   standard error from the per-sample terms of the held-out evaluation. It reflects the
   sampling noise of the evaluation set only, not the variance of training (seed to seed).

torch is imported inside the functions: importing :mod:`infoplane.estimators` does not import
torch (about 1.3 s).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from infoplane.estimators.base import Estimator, EstimatorRefused, is_discrete, register, standard_error
from infoplane.estimators.binning import symbols
from infoplane.units import nats_to_bits

__all__ = ["InfoNCEEstimator", "MAX_SYMBOLS", "MINEEstimator"]

MAX_SYMBOLS: int = 1024
"""Largest number of distinct symbols a discrete side may have (it is one-hot encoded)."""

_MARGINAL_SHUFFLES = 8
"""Permutations of y used for the product-of-marginals term in MINE's held-out evaluation."""

_EMA_RATE = 0.01
"""Rate of MINE's moving average of E_Q[exp T] (Belghazi et al. use 0.01)."""


def _check_int_param(est: Estimator, key: str, minimum: int) -> None:
    v = est.params[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{est.name}: {key} must be an integer >= {minimum}; got {key}={v!r}")


def _prepare(a: np.ndarray, name: str) -> np.ndarray | None:
    """Float features (n, k) for the critic; None if the side carries no information."""
    if is_discrete(a):
        codes, m = symbols(a)
        if m > MAX_SYMBOLS:
            raise EstimatorRefused(
                f"{name} is discrete with {m} distinct symbols; neural estimators one-hot encode "
                f"discrete sides and accept at most {MAX_SYMBOLS}. For sample ids give the input "
                "vectors instead (analysis.x: inputs; the same I(X;T)) or use method='binning'"
            )
        if m < 2:
            return None
        return np.eye(m, dtype=np.float32)[codes]
    a = a.astype(np.float64)
    std = a.std(axis=0)
    keep = std > 0
    if not keep.any():
        return None
    a = a[:, keep]
    return ((a - a.mean(axis=0)) / std[keep]).astype(np.float32)


@contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _mlp(d_in: int, hidden: int, d_out: int, gen) -> Any:
    """Two hidden ReLU layers, initialised from ``gen`` (PyTorch's default uniform init)."""
    import torch

    net = torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, d_out),
    )
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.copy_((torch.rand(layer.weight.shape, generator=gen) * 2 - 1) * bound)
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=gen) * 2 - 1) * bound)
    return net


class _NeuralEstimator(Estimator):
    defaults = {"steps": 500, "batch_size": 256, "lr": 1e-3, "hidden": 64, "seed": 0}
    #: sample ids are one-hot symbols each seen once: the critic trained on one half of the ids
    #: learns nothing about the held-out half (and more than MAX_SYMBOLS are refused)
    accepts_sample_ids = False

    def _validate_params(self) -> None:
        _check_int_param(self, "steps", 1)
        _check_int_param(self, "batch_size", 2)
        _check_int_param(self, "hidden", 1)
        _check_int_param(self, "seed", 0)
        lr = self.params["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) or not (
            math.isfinite(lr) and lr > 0
        ):
            raise ValueError(f"{self.name}: lr must be a number > 0; got lr={lr!r}")

    # subclasses: train a critic on (x, y) float32 tensors; evaluate it on held-out tensors
    # -> (MI estimate in nats, per-sample terms whose standard error is the estimate's)
    def _train(self, x: Any, y: Any, gen: Any) -> Any:
        raise NotImplementedError

    def _evaluate(self, critic: Any, x: Any, y: Any, gen: Any) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        n = x.shape[0]
        if n < 4:
            raise ValueError(f"{self.name}: need at least 4 samples (half to train, half to evaluate); got {n}")
        xf, yf = _prepare(x, "x"), _prepare(y, "y")
        if xf is None or yf is None:
            return 0.0, 0.0
        import torch

        perm = np.random.default_rng(self.params["seed"]).permutation(n)
        half = n // 2
        tr, ev = perm[:half], perm[half:]
        with _one_thread():
            gen = torch.Generator().manual_seed(int(self.params["seed"]))
            xt, yt = torch.from_numpy(xf), torch.from_numpy(yf)
            critic = self._train(xt[tr], yt[tr], gen)
            with torch.no_grad():
                mi, terms = self._evaluate(critic, xt[ev], yt[ev], gen)
        return nats_to_bits(mi), nats_to_bits(standard_error(terms))

    def _batches(self, n_train: int, gen) -> Iterator[Any]:
        import torch

        b = self.params["batch_size"]
        for _ in range(self.params["steps"]):
            yield torch.randint(0, n_train, (b,), generator=gen)

    # subclasses: _train(x, y, gen) -> critic; _evaluate(critic, x, y, gen) -> (nats, terms)


@register
class MINEEstimator(_NeuralEstimator):
    """MINE: the Donsker-Varadhan lower bound maximised over a neural critic.

    ``I(X;Y) >= E_P[T(x, y)] - log E_Q[exp T(x, y)]`` with P the joint and Q the product of
    the marginals; ``T`` is an MLP on the concatenation ``[x, y]`` (two hidden ReLU layers of
    ``hidden`` units). Q-samples pair each x of the batch with the y of a random permutation of
    the batch.

    Gradient: the bias-corrected estimator of Belghazi et al. (2018, section 3.2): the gradient
    of ``log E_Q[exp T]`` is ``grad E_Q[exp T] / E_Q[exp T]`` with the denominator replaced by
    an exponential moving average over batches (rate 0.01, kept in the log domain for
    stability). This is MINE proper, not MINE-f.

    Final estimate: the DV bound on the held-out half (see the module docstring) with
    ``E_P`` over its pairs and ``E_Q`` over 8 independent permutations of its y. Standard error
    from the per-sample terms ``T(x_i, y_i) - exp T(x_i, y_pi(i)) / E_Q[exp T]`` (the
    delta-method linearisation of the bound).

    Parameters
    ----------
    steps : int, default 500
    batch_size : int, default 256
    lr : float, default 1e-3
    hidden : int, default 64
    seed : int, default 0

    The estimate is a (stochastic) lower bound: expect it below the true MI, more so at high
    MI, where the DV bound has high variance.
    """

    name = "mine"

    def _train(self, x, y, gen):
        import torch

        net = _mlp(x.shape[1] + y.shape[1], self.params["hidden"], 1, gen)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.params["lr"]))
        log_ma = None
        log_rate, log_keep = math.log(_EMA_RATE), math.log1p(-_EMA_RATE)
        for idx in self._batches(x.shape[0], gen):
            xb, yb = x[idx], y[idx]
            shuffled = yb[torch.randperm(len(idx), generator=gen)]
            t_joint = net(torch.cat([xb, yb], dim=1)).squeeze(1)
            t_marg = net(torch.cat([xb, shuffled], dim=1)).squeeze(1)
            log_mean_exp = torch.logsumexp(t_marg, 0) - math.log(len(idx))
            with torch.no_grad():
                lme = log_mean_exp.detach()
                log_ma = lme if log_ma is None else torch.logaddexp(log_ma + log_keep, lme + log_rate)
            # d/dtheta exp(lme - log_ma) = grad(E_Q exp T) / moving average
            loss = -(t_joint.mean() - torch.exp(log_mean_exp - log_ma))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return net

    def _evaluate(self, net, x, y, gen) -> tuple[float, np.ndarray]:
        import torch

        n = x.shape[0]
        t_joint = net(torch.cat([x, y], dim=1)).squeeze(1).double()
        t_marg = torch.stack(
            [
                net(torch.cat([x, y[torch.randperm(n, generator=gen)]], dim=1)).squeeze(1).double()
                for _ in range(_MARGINAL_SHUFFLES)
            ]
        )  # (shuffles, n)
        log_mean_exp = torch.logsumexp(t_marg.reshape(-1), 0) - math.log(t_marg.numel())
        mi = float(t_joint.mean() - log_mean_exp)
        # delta method: per-sample influence of the two means
        terms = t_joint - torch.exp(t_marg - log_mean_exp).mean(0)
        return mi, terms.numpy()


@register
class InfoNCEEstimator(_NeuralEstimator):
    """InfoNCE (contrastive predictive coding) lower bound with a separable critic.

    For a batch of K pairs, ``I(X;Y) >= log K + (1/K) sum_i [f(x_i, y_i) - log sum_j
    exp f(x_i, y_j)]`` with the critic ``f(x, y) = g(x) . h(y)``, where g and h are MLPs (two
    hidden ReLU layers of ``hidden`` units, ``hidden`` outputs). Training maximises the bound
    on mini-batches of ``batch_size`` pairs.

    **Ceiling:** the bound can never exceed ``log K`` (nats): during training
    ``log2(batch_size)`` bits (8 bits for the default 256). The final estimate uses the whole
    held-out half as one batch (K = n - n//2), so it is capped at ``log2(n - n // 2)`` bits;
    for large MI it saturates there. Low variance, but biased low for MI near the ceiling.

    Standard error: from the per-sample terms ``log K + f(x_i, y_i) - log sum_j exp f(x_i, y_j)``
    of the held-out evaluation (treated as independent).

    Parameters
    ----------
    steps : int, default 500
    batch_size : int, default 256
    lr : float, default 1e-3
    hidden : int, default 64
    seed : int, default 0
    """

    name = "infonce"

    def _train(self, x, y, gen):
        import torch

        h = self.params["hidden"]
        g_net = _mlp(x.shape[1], h, h, gen)
        h_net = _mlp(y.shape[1], h, h, gen)
        critic = torch.nn.ModuleList([g_net, h_net])
        opt = torch.optim.Adam(critic.parameters(), lr=float(self.params["lr"]))
        for idx in self._batches(x.shape[0], gen):
            scores = g_net(x[idx]) @ h_net(y[idx]).T  # (K, K); diagonal = positive pairs
            loss = -(scores.diagonal() - torch.logsumexp(scores, dim=1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return critic

    def _evaluate(self, critic, x, y, gen) -> tuple[float, np.ndarray]:
        import torch

        g_net, h_net = critic
        scores = (g_net(x).double() @ h_net(y).double().T)
        k = x.shape[0]
        terms = math.log(k) + scores.diagonal() - torch.logsumexp(scores, dim=1)
        terms = terms.numpy()
        return float(terms.mean()), terms
