"""Networks whose named layers the training loop records.

``build_model(model_cfg, input_shape, n_classes)`` returns a :class:`LayeredNet`:

* ``kind: mlp`` - the IDNNs network of Shwartz-Ziv & Tishby (2017): hidden layers ``"1".."K"``
  of ``widths`` with ``activation`` (tanh, relu, sigmoid, leaky_relu, linear or softplus
  ``log(1 + exp(z))``, torch's ``softplus`` with beta 1, threshold 20), a linear output layer, and
  ``"softmax"`` (its probabilities). ``forward`` returns logits.
* ``kind: conv`` - the MNIST network of Butakov et al. (2024) (authors' code VanessB/Information-v3):
  ``"1"`` conv 1->8 3x3, max-pool 2, LeakyReLU; ``"2"`` conv 8->16 3x3, LeakyReLU; ``"3"`` conv
  16->32 3x3, LeakyReLU; ``"4"`` flatten, linear ->32, LeakyReLU; ``"5"`` linear 32->n_classes (the
  logits); ``"log_softmax"`` and ``"softmax"``. No padding. ``forward`` returns log-probabilities.
  For small inputs (8x8 digits) the max-pool would shrink the map below 1x1: set
  ``model_cfg["pool"] = False`` (8x8 -> 6 -> 4 -> 2); with the pool on, such inputs raise a
  ValueError saying so.

With ``noise > 0`` a :class:`RelativeGaussianNoise` layer sits before every linear/conv layer
(active in evaluation too), drawing from the generator passed to ``forward``/``forward_layers``.
With ``additive_noise`` = beta > 0 an :class:`AdditiveGaussianNoise` layer adds N(0, beta^2 I) to
the output of every hidden layer (after its activation; Goldfeld et al., ICML 2019), in training
and evaluation, drawing after the relative noise of the same block; :meth:`LayeredNet.additive_noise_off`
switches it off (the recording pass: recorded activations are the noiseless outputs).

Every block holds exactly one linear/conv layer: :meth:`LayeredNet.weight_layers` lists them by
block name (the SGD diagnostics and the weight decay use it).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from infoplane.models.batched import BatchedMLP
from infoplane.models.noise import AdditiveGaussianNoise, RelativeGaussianNoise

_ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
    "softplus": nn.Softplus,
}
#: Implemented names (the config schema lists the same choices for config files).
ACTIVATIONS = tuple(_ACTIVATION_MODULES)
INITS = ("truncated_normal", "default")

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "KINDS",
    "AdditiveGaussianNoise",
    "BatchedMLP",
    "LayeredNet",
    "RelativeGaussianNoise",
    "build_model",
]


def _activation(name: str) -> nn.Module:
    return _ACTIVATION_MODULES[name]()


class _Block(nn.Module):
    """A sequence of ops whose noise layers receive the generator."""

    def __init__(self, ops: Sequence[nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for op in self.ops:
            x = op(x, generator) if isinstance(op, (RelativeGaussianNoise, AdditiveGaussianNoise)) else op(x)
        return x


class LayeredNet(nn.Module):
    """A feed-forward network made of named blocks whose outputs are recorded.

    Attributes
    ----------
    layer_names : list[str]
        Recorded layers in order (e.g. ``["1", ..., "K", "softmax"]``).
    output_kind : {"logits", "log_probs"}
        What :meth:`forward` returns (the training loss depends on it).
    input_shape : tuple[int, ...]
    n_classes : int
    """

    def __init__(
        self,
        blocks: Sequence[tuple[str, nn.Module]],
        output_kind: str,
        input_shape: tuple[int, ...],
        n_classes: int,
        record_last_block: bool,
    ) -> None:
        super().__init__()
        self.block_names = [name for name, _ in blocks]
        self.blocks = nn.ModuleList([blk for _, blk in blocks])
        self.output_kind = output_kind
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_classes = int(n_classes)
        self._record_last = record_last_block
        names = self.block_names if record_last_block else self.block_names[:-1]
        extra = ["log_softmax", "softmax"] if output_kind == "log_probs" else ["softmax"]
        self.layer_names = list(names) + extra

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (mlp) or log-probabilities (conv), shape (n, n_classes)."""
        for blk in self.blocks:
            x = blk(x, generator)
        if self.output_kind == "log_probs":
            x = torch.log_softmax(x, dim=1)
        return x

    def _layers(self, x: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        n_blocks = len(self.blocks)
        for i, (name, blk) in enumerate(zip(self.block_names, self.blocks, strict=False)):
            x = blk(x, generator)
            if i < n_blocks - 1 or self._record_last:
                out[name] = x.reshape(x.shape[0], -1)
        if self.output_kind == "log_probs":
            logp = torch.log_softmax(x, dim=1)
            out["log_softmax"] = logp
            out["softmax"] = logp.exp()
        else:
            out["softmax"] = torch.softmax(x, dim=1)
        return out

    def forward_layers(
        self,
        x: torch.Tensor | np.ndarray,
        generator: torch.Generator | None = None,
        batch_size: int = 8192,
    ) -> dict[str, torch.Tensor]:
        """Activations of every recorded layer, without gradients.

        Parameters
        ----------
        x : tensor or array, shape (n, *input_shape)
        generator : torch.Generator, optional
            Required when the network has noise layers (noise is active here too).
        batch_size : int
            Samples per forward pass (bounds memory). Results can differ in the last bit between
            batch sizes (matmul blocking), and with noise the draws depend on it, so callers
            that need bit-identical reruns keep it fixed (training does).

        Returns
        -------
        dict layer name -> float32 tensor (n, units), flattened, in ``layer_names`` order.
        """
        x = torch.as_tensor(x, dtype=torch.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"inputs have shape {tuple(x.shape[1:])} per sample, the network expects {self.input_shape}"
            )
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in self.layer_names}
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                for name, val in self._layers(x[start : start + batch_size], generator).items():
                    parts[name].append(val)
        return {name: torch.cat(vals) if len(vals) != 1 else vals[0] for name, vals in parts.items()}

    def weight_layers(self) -> dict[str, nn.Linear | nn.Conv2d]:
        """The linear/conv layer of every block, by block name (MLP: ``"1".."K"``, ``"logits"``;
        conv: ``"1".."5"``), in network order; the last one is the output layer."""
        out: dict[str, nn.Linear | nn.Conv2d] = {}
        for name, blk in zip(self.block_names, self.blocks, strict=True):
            (layer,) = [m for m in blk.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
            out[name] = layer
        return out

    @contextlib.contextmanager
    def additive_noise_off(self) -> Iterator[None]:
        """Within the block, every :class:`AdditiveGaussianNoise` layer is the identity."""
        layers = [m for m in self.modules() if isinstance(m, AdditiveGaussianNoise)]
        for m in layers:
            m.enabled = False
        try:
            yield
        finally:
            for m in layers:
                m.enabled = True

    def layer_sizes(self) -> dict[str, int]:
        """Number of units of every recorded layer."""
        with torch.no_grad():
            probe = torch.zeros((1, *self.input_shape))
            g = torch.Generator().manual_seed(0)
            return {k: int(v.shape[1]) for k, v in self._layers(probe, g).items()}


def _init_(model: nn.Module, init: str, generator: torch.Generator) -> None:
    """Re-initialise every linear/conv layer from ``generator`` (module order)."""
    for mod in model.modules():
        if not isinstance(mod, (nn.Linear, nn.Conv2d)):
            continue
        w = mod.weight
        fan_in = w[0].numel()
        with torch.no_grad():
            if init == "truncated_normal":
                std = 1.0 / math.sqrt(fan_in)
                nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std, generator=generator)
                if mod.bias is not None:
                    mod.bias.zero_()
            else:  # torch's own reset_parameters, but from the explicit generator
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
                if mod.bias is not None:
                    bound = 1.0 / math.sqrt(fan_in)
                    mod.bias.uniform_(-bound, bound, generator=generator)


def _noise(sigma: float) -> list[nn.Module]:
    return [RelativeGaussianNoise(sigma)] if sigma > 0 else []


def _additive(cfg: Mapping[str, Any]) -> list[nn.Module]:
    beta = float(cfg.get("additive_noise", 0.0))
    return [AdditiveGaussianNoise(beta)] if beta > 0 else []


def _build_mlp(cfg: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int, sigma: float) -> LayeredNet:
    activation = _choose("model.activation", cfg["activation"], ACTIVATIONS)
    blocks: list[tuple[str, nn.Module]] = []
    d_in = int(np.prod(input_shape))
    first = [nn.Flatten()] if len(input_shape) > 1 else []
    for i, w in enumerate(cfg["widths"]):
        ops = (first if i == 0 else []) + _noise(sigma) + [nn.Linear(d_in, int(w)), _activation(activation)]
        ops += _additive(cfg)
        blocks.append((str(i + 1), _Block(ops)))
        d_in = int(w)
    ops = _noise(sigma) + [nn.Linear(d_in, n_classes)]
    blocks.append(("logits", _Block(ops)))
    return LayeredNet(blocks, "logits", input_shape, n_classes, record_last_block=False)


def _build_conv(cfg: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int, sigma: float) -> LayeredNet:
    if len(input_shape) != 3:
        raise ValueError(
            f"model.kind='conv' needs image inputs (channels, height, width); got input shape {input_shape}"
        )
    pool = bool(cfg["pool"])
    c, h, w = input_shape
    sizes = []
    for step in ("conv", "pool", "conv", "conv") if pool else ("conv", "conv", "conv"):
        h, w = (h - 2, w - 2) if step == "conv" else (h // 2, w // 2)
        sizes.append((h, w))
        if h < 1 or w < 1:
            hint = " (set model.pool: false for small images such as 8x8 digits)" if pool else ""
            raise ValueError(
                f"input shape {tuple(input_shape)} is too small for the conv net: the feature map shrinks to "
                f"{h}x{w}{hint}"
            )
    leaky = nn.LeakyReLU
    b1 = _noise(sigma) + [nn.Conv2d(c, 8, 3)] + ([nn.MaxPool2d(2)] if pool else []) + [leaky()] + _additive(cfg)
    blocks = [
        ("1", _Block(b1)),
        ("2", _Block(_noise(sigma) + [nn.Conv2d(8, 16, 3), leaky()] + _additive(cfg))),
        ("3", _Block(_noise(sigma) + [nn.Conv2d(16, 32, 3), leaky()] + _additive(cfg))),
        ("4", _Block([nn.Flatten()] + _noise(sigma) + [nn.Linear(32 * h * w, 32), leaky()] + _additive(cfg))),
        ("5", _Block(_noise(sigma) + [nn.Linear(32, n_classes)])),
    ]
    return LayeredNet(blocks, "log_probs", input_shape, n_classes, record_last_block=True)


def _choose(key: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it names an implementation here; a ValueError for library callers otherwise
    (config files never get here with a bad value: the schema is checked first)."""
    if value not in allowed:
        raise ValueError(f"{key}={value!r}; choose one of {', '.join(allowed)}")
    return value


_BUILDERS = {"mlp": _build_mlp, "conv": _build_conv}
KINDS = tuple(_BUILDERS)


def build_model(
    model_cfg: Mapping[str, Any],
    input_shape: Sequence[int],
    n_classes: int,
    generator: torch.Generator | None = None,
) -> LayeredNet:
    """Build and initialise a network from the ``model`` section of a validated config.

    Parameters
    ----------
    model_cfg : mapping
        The ``model`` section with every key (kind, widths, activation, init, noise, pool,
        additive_noise; a missing additive_noise means 0) as the
        config schema defines and validates them (``infoplane.config.validate_config`` fills the
        defaults). Only what the schema cannot know is checked here: the names of the
        implementations (a ValueError for a library caller with a typo) and whether the input
        shape fits the conv net.
    input_shape : sequence of int
        Shape of one input, e.g. (12,) or (1, 28, 28).
    n_classes : int
        Number of output units (classes).
    generator : torch.Generator, optional
        Source of the initial weights; default ``torch.Generator().manual_seed(0)``. Torch's
        global RNG is never used for the weights.

    Raises
    ------
    ValueError
        Unknown kind/activation/init, or inputs too small for (or not images for) the conv net.
    """
    builder = _BUILDERS[_choose("model.kind", model_cfg["kind"], KINDS)]
    init = _choose("model.init", model_cfg["init"], INITS)
    shape = tuple(int(s) for s in input_shape)
    model = builder(model_cfg, shape, int(n_classes), float(model_cfg["noise"]))
    _init_(model, init, generator if generator is not None else torch.Generator().manual_seed(0))
    return model
