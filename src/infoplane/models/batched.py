"""Many seeds of one MLP trained as one batched model: stacked weights, a hand-written forward and
backward pass, and Adam/SGD on one flat parameter buffer.

The training loop steps noisy MLPs (and any MLP on a GPU) through these torch ops; noiseless MLPs
on the CPU train through :mod:`infoplane.models.fused` (the same arithmetic as one compiled call
per epoch, on the same :attr:`BatchedMLP.params` buffer), and this module's forward pass still
evaluates and records every MLP.

Measured against ``torch.func.vmap`` + ``functional_call`` and against ``torch.baddbmm`` on
stacked weights with autograd (``benchmarks/training.py``, CPU seconds per training epoch of the
Tishby net, one thread, a loaded 2-core machine): at S = 1, 10, 25, 50 the hand-written pass took
0.009, 0.038, 0.064, 0.09 s; bmm + autograd 0.009, 0.044, 0.072, 0.07-0.10 s (a tie at S = 50,
within the machine's noise); vmap 0.051, 0.090, 0.116, 0.11-0.15 s. The hand-written pass is kept:
fastest or tied, no autograd graph, and it can keep every seed bit-identical to the seed alone
(below), which bmm + autograd (contiguous stacked tensors, MKL's batched gemm) does not.

Bit-identity with a seed trained alone. Every op is per seed (``bmm`` over the seed dimension,
elementwise ops, reductions over the sample dimension), so seed s of a group sees exactly the
arithmetic it would see alone, with two catches (measured, torch 2.13 CPU, AVX-512):

* MKL's small-matrix ``gemm`` kernels round differently depending on the alignment of each
  operand (``bmm`` of (256, 10) x (10, 7) matrices: the results of odd-numbered seeds in a stacked
  (S, 256, 7) output differ in the last bit from the same product computed alone);
* torch's vectorised elementwise loops step 32 floats at a time and finish with a scalar tail
  whose ``sigmoid`` rounds differently, so an element's result depends on where the tail falls.

Every tensor is therefore laid out with each seed's block starting on a 256-byte boundary and
spanning a multiple of 64 floats (:func:`aligned_empty`, :func:`aligned`; blocks of other sizes
are padded, so loops run per seed), as one seed's freshly allocated tensor is; then a seed in a
group and the seed alone agree bit for bit (tested in tests/test_training.py for every activation,
with noise, Adam and SGD, batch sizes with a remainder).

Shapes: S seeds, B samples, layer widths w_0 (inputs) .. w_L (classes). Weights are stored
transposed, (S, w_{l-1}, w_l), so the forward pass is ``baddbmm(b, u, W)``.

Per hidden layer l the forward pass is: u = a_in + noise * a_in * eps (relative noise, Butakov et
al. 2024), z = u W + b, a = act(z), and a_in of the next layer = a + beta * xi (additive noise,
Goldfeld et al. 2019; beta = ``additive_noise``), eps and xi ~ N(0, 1) drawn in that order from the
seed's generator, as :class:`~infoplane.models.LayeredNet` draws them. The additive term has
derivative 1, so the backward pass only needs the noiseless a. Weight decay (``weight_decay`` =
lambda) adds lambda * W to the gradient of every hidden layer's weights (not the output layer's,
not the biases): the gradient of (lambda / 2) sum_l ||W_l||_F^2, see :meth:`BatchedMLP.loss_and_grad`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

_ALIGN = 64  # floats (256 bytes): a multiple of every SIMD loop's step (2 x 16 floats on AVX-512)

__all__ = ["BatchedMLP", "aligned", "aligned_empty"]


def _round_up(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def aligned_empty(
    s: int, *shape: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """An uninitialised (s, *shape) tensor whose per-seed blocks each start on a 256-byte boundary
    and span a multiple of 64 floats (padded; the padding is never read)."""
    n = math.prod(shape)
    return torch.empty(s, _round_up(max(n, 1)), dtype=dtype, device=device)[:, :n].view(s, *shape)


def _is_aligned(t: torch.Tensor) -> bool:
    n = math.prod(t.shape[1:])
    per_seed_contiguous = t[0].is_contiguous() if t.shape[0] else True
    return (
        per_seed_contiguous
        and (t.shape[0] == 1 or t.stride(0) % _ALIGN == 0 or n == 0)
        and t.data_ptr() % 64 == 0
    )


def aligned(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself when each seed's block is contiguous, 64-byte aligned and a multiple of 64
    floats apart, else such a copy (see :func:`aligned_empty`)."""
    if _is_aligned(t):
        return t
    out = aligned_empty(t.shape[0], *t.shape[1:], dtype=t.dtype, device=t.device)
    out.copy_(t)
    return out


def _act_forward(name: str, z: torch.Tensor) -> torch.Tensor:
    out = aligned_empty(*z.shape, device=z.device)
    if name == "tanh":
        torch.tanh(z, out=out)
    elif name == "relu":
        torch.clamp(z, min=0.0, out=out)
    elif name == "sigmoid":
        torch.sigmoid(z, out=out)
    elif name == "leaky_relu":
        out.copy_(torch.nn.functional.leaky_relu(z))
    elif name == "softplus":  # torch.nn.functional.softplus: beta 1, linear above z = 20
        torch.ops.aten.softplus.out(z, 1.0, 20.0, out=out)
    else:  # linear
        out.copy_(z)
    return out


def _act_backward(name: str, da: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """d loss / d z from d loss / d a, for a = act(z) (torch's own fused backward kernels)."""
    if name == "linear":
        return aligned(da)
    out = aligned_empty(*da.shape, device=da.device)
    if name == "tanh":
        torch.ops.aten.tanh_backward.grad_input(da, a, grad_input=out)
    elif name == "relu":
        torch.ops.aten.threshold_backward.grad_input(da, a, 0.0, grad_input=out)
    elif name == "sigmoid":
        torch.ops.aten.sigmoid_backward.grad_input(da, a, grad_input=out)
    elif name == "softplus":  # d softplus(z) / dz = sigmoid(z) (1 above the threshold z = 20)
        torch.ops.aten.softplus_backward.grad_input(da, z, 1.0, 20.0, grad_input=out)
    else:  # leaky_relu, torch's default slope
        torch.ops.aten.leaky_relu_backward.grad_input(da, z, 0.01, False, grad_input=out)
    return out


class BatchedMLP:
    """S copies of one MLP (one per seed) with stacked parameters.

    Built from S already initialised :class:`~infoplane.models.LayeredNet` MLPs (so every seed
    keeps the initialisation :func:`~infoplane.models.build_model` gives it alone).

    Attributes
    ----------
    params, grads : float32 tensors (S, P)
        Flat per-seed parameters and their gradients; every weight/bias block starts on a
        64-byte boundary (P includes the padding, which stays 0).
    weights : list of (S, w_{l-1}, w_l) views of ``params``; ``biases``: (S, 1, w_l) views.
    layer_names : recorded layers, e.g. ``["1", ..., "K", "softmax"]``.
    weight_layer_names : the layer of each weight matrix, ``["1", ..., "K", "logits"]``.
    noise, additive_noise, weight_decay : float
        Relative noise sigma, additive noise beta, L2 weight decay lambda (all >= 0).
    """

    def __init__(
        self,
        nets: Sequence[nn.Module],
        activation: str,
        noise: float,
        device: torch.device | str = "cpu",
        additive_noise: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        if not nets:
            raise ValueError("BatchedMLP needs at least one network")
        linears = [[m for m in net.modules() if isinstance(m, nn.Linear)] for net in nets]
        dims = [(lin.in_features, lin.out_features) for lin in linears[0]]
        self.n_seeds = len(nets)
        self.activation = activation
        self.noise = float(noise)
        self.additive_noise = float(additive_noise)
        self.weight_decay = float(weight_decay)
        # LayeredNet.layer_names (a list of str; nn.Module's attribute typing says Tensor | Module)
        self.layer_names: list[str] = list(cast("Sequence[str]", nets[0].layer_names))
        self.n_classes = dims[-1][1]
        self.weight_layer_names = [*self.layer_names[:-1], "logits"]
        offsets, p = [], 0
        for d_in, d_out in dims:
            offsets.append((p, p + _round_up(d_in * d_out)))
            p = offsets[-1][1] + _round_up(d_out)
        self.device = torch.device(device)
        self.params = torch.zeros(self.n_seeds, p, device=self.device)
        self.grads = torch.zeros(self.n_seeds, p, device=self.device)
        self._offsets, self._dims = offsets, dims
        self.weights, self.biases = self.views(self.params)
        self.grad_weights, self.grad_biases = self.views(self.grads)
        with torch.no_grad():
            for s, lins in enumerate(linears):
                for layer, lin in enumerate(lins):
                    self.weights[layer][s].copy_(lin.weight.t())
                    self.biases[layer][s, 0].copy_(lin.bias)

    def views(self, buf: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The weight (S, w_{l-1}, w_l) and bias (S, 1, w_l) views of a buffer laid out as
        :attr:`params` ((S, P), any dtype)."""
        pairs = list(zip(self._offsets, self._dims, strict=True))
        w = [buf[:, ow : ow + i * o].view(-1, i, o) for (ow, _), (i, o) in pairs]
        b = [buf[:, ob : ob + o].view(-1, 1, o) for (_, ob), (_, o) in pairs]
        return w, b

    # ------------------------------------------------------------------------------ forward

    def _noisy(
        self, a: torch.Tensor, gens: Sequence[torch.Generator] | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(u, eps): u = a + noise * a * eps with eps ~ N(0, 1) drawn per seed from its generator."""
        if self.noise == 0.0:
            return a, None
        if gens is None:
            raise ValueError("a noisy network (model.noise > 0) needs one torch.Generator per seed")
        eps = aligned_empty(*a.shape, device=a.device)
        for s, g in enumerate(gens):  # drawn on the CPU: the same numbers on every device
            eps[s].copy_(torch.randn(a.shape[1:], generator=g))
        u = aligned_empty(*a.shape, device=a.device)
        torch.addcmul(a, a, eps, value=self.noise, out=u)
        return u, eps

    def _additive(self, a: torch.Tensor, gens: Sequence[torch.Generator] | None) -> torch.Tensor:
        """a + additive_noise * xi with xi ~ N(0, 1) drawn per seed from its generator."""
        if gens is None:
            raise ValueError("a noisy network (model.additive_noise > 0) needs one torch.Generator per seed")
        xi = aligned_empty(*a.shape, device=a.device)
        for s, g in enumerate(gens):  # drawn on the CPU: the same numbers on every device
            xi[s].copy_(torch.randn(a.shape[1:], generator=g))
        out = aligned_empty(*a.shape, device=a.device)
        torch.add(a, xi, alpha=self.additive_noise, out=out)
        return out

    def _forward(
        self, x: torch.Tensor, gens: Sequence[torch.Generator] | None, additive: bool = True
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None]]:
        """Layer inputs u_l (after noise), pre-activations z_l, outputs a_l (before the additive
        noise; with ``additive`` False there is none) and relative noise eps_l.

        The last z (the logits) is computed transposed, (S, classes, n): softmax over a
        non-last dimension is about 4x faster than over a last dimension of 2 to 10 classes.
        """
        us, zs, acts, epss = [], [], [], []
        a = aligned(x)
        a_in = a
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=False)):
            u, eps = self._noisy(a_in, gens)
            if layer == last:
                z = aligned_empty(u.shape[0], w.shape[2], u.shape[1], device=u.device)
                torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), u.transpose(1, 2), out=z)
                a = z
            else:
                z = aligned_empty(u.shape[0], u.shape[1], w.shape[2], device=u.device)
                torch.baddbmm(b, u, w, out=z)
                a = _act_forward(self.activation, z)
                a_in = self._additive(a, gens) if additive and self.additive_noise > 0 else a
            us.append(u)
            zs.append(z)
            acts.append(a)
            epss.append(eps)
        return us, zs, acts, epss

    def layers(
        self, x: torch.Tensor, gens: Sequence[torch.Generator] | None = None, additive: bool = True
    ) -> dict[str, torch.Tensor]:
        """Every hidden layer and the logits, without gradients.

        Parameters
        ----------
        x : float32 tensor (S, n, w_0)
            Flattened inputs of every seed (the same rows for every seed, or not).
        gens : one generator per seed; required when the network is noisy.
        additive : bool
            Whether the additive noise is on (it is in training and evaluation; the recording
            pass turns it off). A hidden layer's output is returned before its own additive
            noise either way (its input carries the earlier layers' noise when on).

        Returns
        -------
        dict layer name -> (S, n, units): the hidden layers ``"1".."K"`` and ``"logits"``
        (a transposed view of a contiguous (S, classes, n) tensor; ``torch.softmax(logits, 2)``
        is the recorded ``"softmax"`` layer).
        """
        with torch.no_grad():
            _, zs, acts, _ = self._forward(x, gens, additive)
        out = {name: a for name, a in zip(self.layer_names[:-1], acts[:-1], strict=False)}
        out["logits"] = zs[-1].transpose(1, 2)
        return out

    # ------------------------------------------------------------------------------ training

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, gens: Sequence[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy per seed on one minibatch; fills :attr:`grads`.

        With ``weight_decay`` = lambda > 0 the gradient is that of the cross-entropy plus
        (lambda / 2) * sum over the hidden layers' weight matrices of ||W||_F^2 (the L2 penalty of
        Chelombiev et al. 2019, ``tf.nn.l2_loss``; no output-layer weights, no biases): lambda * W
        is added to those weights' gradients, as ``torch.optim.Adam(weight_decay=lambda)`` adds it.

        Parameters
        ----------
        x : float32 (S, B, w_0) inputs; y : int64 (S, B) labels.

        Returns
        -------
        float32 tensor (S,): the cross-entropy of every seed (nats; without the penalty).
        """
        with torch.no_grad():
            us, zs, acts, epss = self._forward(x, gens)
            logp = torch.log_softmax(zs[-1], dim=1)  # (S, classes, B)
            y1 = y.unsqueeze(1)
            loss = -logp.gather(1, y1).squeeze(1).mean(1)
            dz_t = aligned_empty(*logp.shape, device=logp.device)
            torch.exp(logp, out=dz_t)  # softmax - one_hot(y), over the batch size
            dz_t.scatter_add_(1, y1, torch.full(y1.shape, -1.0, device=dz_t.device))
            dz_t.div_(y.shape[1])
            dz = dz_t.transpose(1, 2)
            last = len(self.weights) - 1
            for layer in range(last, -1, -1):
                torch.bmm(us[layer].transpose(1, 2), dz, out=self.grad_weights[layer])
                if self.weight_decay > 0 and layer < last:
                    self.grad_weights[layer].add_(self.weights[layer], alpha=self.weight_decay)
                torch.sum(dz, dim=1, keepdim=True, out=self.grad_biases[layer])
                if layer == 0:
                    break
                du = aligned_empty(*us[layer].shape, device=dz.device)
                torch.bmm(dz, self.weights[layer].transpose(1, 2), out=du)
                eps = epss[layer]
                if eps is not None:
                    du = du.addcmul_(du, eps, value=self.noise)  # d(a + s a eps)/da = 1 + s eps
                dz = _act_backward(self.activation, du, zs[layer - 1], acts[layer - 1])
        return loss


class BatchedAdam:
    """Adam (Kingma & Ba 2015) on a flat (S, P) buffer; the arithmetic of torch's single-tensor
    ``torch.optim.Adam`` (betas 0.9, 0.999, eps 1e-8, no weight decay)."""

    def __init__(self, params: torch.Tensor, grads: torch.Tensor, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.grads, self.lr, self.betas, self.eps = params, grads, float(lr), betas, float(eps)
        self.exp_avg = torch.zeros_like(params)
        self.exp_avg_sq = torch.zeros_like(params)
        self.steps = 0

    def step(self) -> None:
        b1, b2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(self.grads, 1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(self.grads, self.grads, value=1 - b2)
        bc1 = 1 - b1**self.steps
        bc2_sqrt = math.sqrt(1 - b2**self.steps)
        denom = (self.exp_avg_sq.sqrt() / bc2_sqrt).add_(self.eps)
        self.params.addcdiv_(self.exp_avg, denom, value=-self.lr / bc1)

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        return {"exp_avg": self.exp_avg.clone(), "exp_avg_sq": self.exp_avg_sq.clone(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.steps = int(state["steps"])


class BatchedSGD:
    """Plain SGD on a flat (S, P) buffer."""

    def __init__(self, params: torch.Tensor, grads: torch.Tensor, lr: float) -> None:
        self.params, self.grads, self.lr = params, grads, float(lr)

    def step(self) -> None:
        self.params.add_(self.grads, alpha=-self.lr)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
