"""Lossy compressors for mutual-information estimation in high dimension.

Butakov et al. (ICLR 2024, "Information Bottleneck Analysis of Deep Neural Networks via Lossy
Compression") estimate I(X;T) between high-dimensional variables by first compressing each side
to a few dimensions (an autoencoder or PCA) and then applying a k-NN estimator to the codes. MI
is invariant under injective maps, so a compressor that keeps the (low-dimensional) manifold the
data live on loses no information, while the k-NN estimator works in a space where it can.

Compressors
-----------
All compressors share one small interface (:class:`Compressor`)::

    c = make_compressor({"method": "pca", "dim": 4}, input_shape=(1, 28, 28))
    codes = c.fit(x).transform(x)          # x (n, *input_shape) or (n, prod(input_shape))
    c.save("x_compressor.npz")
    same = load_compressor("x_compressor.npz")   # transform(x) identical, bit for bit

- :class:`IdentityCompressor` (method ``none``): flattens, no compression.
- :class:`PCACompressor` (method ``pca``): the first ``min(dim, d, n)`` principal components.
- :class:`ConvAutoencoder` (method ``ae`` on image-shaped input ``(C, H, W)``): the X compressor
  of Butakov et al.: three blocks ``conv3x3 -> max-pool 2 -> LeakyReLU`` with 8, 16, 32
  channels, ``linear -> 128 -> LeakyReLU -> linear -> dim -> sigmoid``; the decoder mirrors it
  (``linear``, then three ``nearest-upsample 2 -> conv3x3`` blocks, linear output). Inputs whose
  height or width is not a multiple of 8 are zero-padded at the bottom/right to the next multiple
  of 8 (28 -> 32, 8 -> 8, 16 -> 16) and the reconstruction is cropped back, so any size >= 1
  works.
- :class:`MLPAutoencoder` (method ``ae`` on flat input ``(d,)``): the same recipe with dense
  layers ``d -> hidden... -> dim -> sigmoid``; inputs are standardised per feature first (the
  mean and scale are part of the saved state), so wide layers of any scale compress alike.

Both autoencoders train with the L1 reconstruction loss, Adam, mini-batches of 512 and additive
Gaussian noise (standard deviation ``noise``, default 0.1) on the latent code during training
only. ``transform`` returns the noiseless code *before* the sigmoid (its logit, in R^dim) by
default: a bijection of the sigmoid code, so every MI is the same, but k-NN estimators need it --
the latent noise pushes codes into the flat ends of the sigmoid, where float32 piles them up
near 0 and 1 (measured on MNIST: 12-20% of codes within 0.01 of a bound, a Kozachenko-Leonenko
H(X~) of -12 bits and a negative I(X;L); on the logit code KL and KSG agree within 0.2 bits).
``transform(x, space="sigmoid")`` gives the code in (0, 1)^dim.

Determinism
-----------
Initialisation, shuffling and the latent noise are drawn from generators seeded with ``seed``;
the global torch RNG is forked and restored, so fitting has no side effect on it, and
``torch.use_deterministic_algorithms(True)`` is enabled during fitting and restored afterwards.
Every fit, transform and reconstruction runs with :data:`COMPUTE_THREADS` torch intra-op and
BLAS/OpenMP threads (:func:`fixed_threads`; the process's settings are restored afterwards):
parallel reductions round differently with another thread count (measured: codes of a
ConvAutoencoder fitted with 1 and 2 torch threads differ by 1.5e-8), so without it a Dask worker
(one thread) and a serial run (all cores) gave different MI estimates. The same seed and data
give bit-identical codes whatever the thread count of the process or ``OMP_NUM_THREADS``.

File format
-----------
Every compressor saves to one NumPy ``.npz`` file (read with ``allow_pickle=False``; no pickled
objects, readable without torch):

- ``__spec__``: a 0-d unicode array holding a JSON object
  ``{"format": "infoplane.compression", "version": 1, "class": <class name>,
  "params": {...constructor arguments...}, "input_shape": [...], "fitted": true}``;
- ``state/<name>``: the fitted arrays. PCA: ``state/components`` (k, d), ``state/mean`` (d,),
  ``state/explained_variance`` (k,). Autoencoders: one ``state/<key>`` per entry of the torch
  ``state_dict`` (float32, bit-exact), plus ``state/history`` (mean training loss per epoch) and,
  for the MLP, ``state/input_mean`` and ``state/input_scale``.

:func:`load_compressor` reads any of them; ``<Class>.load(path)`` checks the class as well.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily at run time (see _torch)
    import torch
    from torch import nn

__all__ = [
    "COMPUTE_THREADS",
    "Compressor",
    "ConvAutoencoder",
    "IdentityCompressor",
    "MLPAutoencoder",
    "PCACompressor",
    "fixed_threads",
    "load_compressor",
    "make_compressor",
]

FORMAT_NAME = "infoplane.compression"
FORMAT_VERSION = 1

COMPUTE_THREADS = 1
"""Threads of every compressor computation (torch intra-op, BLAS, OpenMP): fixed, so that codes
do not depend on the process's thread settings (see "Determinism" above)."""


@contextmanager
def fixed_threads(n: int = COMPUTE_THREADS, torch_too: bool = True) -> Iterator[None]:
    """Run the block with ``n`` BLAS/OpenMP threads and (``torch_too``) ``n`` torch intra-op
    threads; the previous settings are restored on exit."""
    from threadpoolctl import threadpool_limits

    torch = _torch() if torch_too else None
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(old)


@runtime_checkable
class Compressor(Protocol):
    """What every compressor provides."""

    def fit(self, x: np.ndarray) -> Compressor:
        """Fit on samples ``x`` (n, *input_shape) or flattened (n, d); return self."""
        ...

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Codes (n, k) float64 of samples ``x``."""
        ...

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted compressor to ``path`` (the format in the module docstring)."""
        ...


# --------------------------------------------------------------------------------------------
# shared helpers


def _check_samples(x: Any, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have a sample axis and at least one feature axis; got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} has no samples (shape {arr.shape})")
    if arr.dtype.kind not in "iubf":
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def _positive_int(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _nonneg_float(value: Any, key: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{key} must be a number; got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{key} must be a finite number {'>' if positive else '>='} 0; got {value!r}")
    return v


def _write_npz(path: str | os.PathLike, cls_name: str, params: dict, input_shape, state: dict) -> None:
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "class": cls_name,
        "params": params,
        "input_shape": None if input_shape is None else [int(s) for s in input_shape],
        "fitted": True,
    }
    arrays: dict[str, Any] = {"__spec__": np.array(json.dumps(header, sort_keys=True))}
    for key, value in state.items():
        arrays[f"state/{key}"] = np.asarray(value)
    path = Path(path)
    # np.savez appends ".npz" to names without it; write through a file object to keep the name.
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _read_npz(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no compressor file at {path}")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an infoplane compressor file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if "__spec__" not in names:
                raise ValueError(f"{path} is not an infoplane compressor file (no __spec__ entry)")
            header = json.loads(str(data["__spec__"][()]))
            state = {k[len("state/"):]: data[k] for k in names if k.startswith("state/")}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} has an unreadable __spec__ entry: {exc}") from exc
    except ValueError:
        raise
    except Exception as exc:  # BadZipFile, OSError, EOFError, ...
        raise ValueError(f"{path} is not a readable infoplane compressor file: {exc}") from exc
    if header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} has format {header.get('format')!r}, expected {FORMAT_NAME!r}")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {header.get('version')!r}; this version reads {FORMAT_VERSION}")
    return header, state


class _Base:
    """Common save/load plumbing."""

    _registry: ClassVar[dict[str, type[_Base]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _Base._registry[cls.__name__] = cls

    input_shape: tuple[int, ...] | None = None

    def _params(self) -> dict:
        raise NotImplementedError

    def _state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    @property
    def fitted(self) -> bool:
        return self.input_shape is not None

    def fit(self, x: np.ndarray) -> _Base:
        raise NotImplementedError

    def transform(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _shape(self) -> tuple[int, ...]:
        """The fitted input shape; ValueError if not fitted."""
        if self.input_shape is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(x) first")
        return self.input_shape

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(x) first")

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """``fit(x).transform(x)``."""
        return self.fit(x).transform(x)

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted compressor to ``path`` as ``.npz`` (see the module docstring)."""
        self._require_fitted()
        _write_npz(path, type(self).__name__, self._params(), self.input_shape, self._state())

    @classmethod
    def load(cls, path: str | os.PathLike) -> _Base:
        """Read a compressor written by :meth:`save`; ValueError if it is of another class."""
        obj = load_compressor(path)
        if cls is not _Base and not isinstance(obj, cls):
            raise ValueError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    def _flat(self, x: np.ndarray) -> np.ndarray:
        """(n, *input_shape) or (n, d) -> (n, d), checking against the fitted input shape."""
        arr = _check_samples(x)
        flat = arr.reshape(arr.shape[0], -1)
        if self.input_shape is not None and flat.shape[1] != int(np.prod(self.input_shape)):
            raise ValueError(
                f"x has {flat.shape[1]} features per sample (shape {arr.shape}); "
                f"this compressor was fitted on input shape {tuple(self.input_shape)}"
            )
        return flat


def load_compressor(path: str | os.PathLike) -> IdentityCompressor | PCACompressor | ConvAutoencoder | MLPAutoencoder:
    """Read any compressor written by ``save`` (the class is taken from the file)."""
    header, state = _read_npz(path)
    cls = _Base._registry.get(header.get("class", ""))
    if cls is None:
        raise ValueError(f"{path} holds unknown compressor class {header.get('class')!r}")
    obj = cls(**header["params"])
    if not isinstance(obj, IdentityCompressor | PCACompressor | ConvAutoencoder | MLPAutoencoder):
        raise ValueError(f"{path} holds {header.get('class')!r}, which is not a concrete compressor class")
    obj.input_shape = tuple(header["input_shape"])
    obj._set_state(state)
    return obj


# --------------------------------------------------------------------------------------------
# identity and PCA


class IdentityCompressor(_Base):
    """No compression: ``transform`` returns the samples flattened to (n, d) float64."""

    def __init__(self) -> None:
        self.input_shape = None

    def _params(self) -> dict:
        return {}

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def fit(self, x: np.ndarray) -> IdentityCompressor:
        arr = _check_samples(x)
        self.input_shape = tuple(arr.shape[1:])
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._require_fitted()
        return self._flat(x).astype(np.float64)

    @property
    def output_dim(self) -> int:
        self._require_fitted()
        return int(np.prod(self._shape()))


class PCACompressor(_Base):
    """Project onto the first principal components (scikit-learn PCA, no whitening).

    The SVD is exact: LAPACK's full SVD for small inputs, and ARPACK's truncated SVD (seeded
    start vector, so deterministic) when only a few components of a large matrix are wanted --
    it gives the same components to ~1e-13 at a tenth of the time (measured: 2000 x 5408
    activations of a conv layer, 4 components: 1.9 s against 19.9 s).

    Parameters
    ----------
    dim : int
        Requested number of components; the fitted number is ``min(dim, d, n)`` for ``n``
        samples of ``d`` features.
    """

    def __init__(self, dim: int = 4) -> None:
        self.dim = _positive_int(dim, "dim")
        self.input_shape = None
        self.components_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.explained_variance_: np.ndarray | None = None

    def _params(self) -> dict:
        return {"dim": self.dim}

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(components, mean, explained_variance); ValueError if not fitted."""
        if self.components_ is None or self.mean_ is None or self.explained_variance_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(x) first")
        return self.components_, self.mean_, self.explained_variance_

    def _state(self) -> dict[str, np.ndarray]:
        components, mean, variance = self._arrays()
        return {"components": components, "mean": mean, "explained_variance": variance}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.components_ = np.asarray(state["components"], dtype=np.float64)
        self.mean_ = np.asarray(state["mean"], dtype=np.float64)
        self.explained_variance_ = np.asarray(state["explained_variance"], dtype=np.float64)

    @property
    def output_dim(self) -> int:
        self._require_fitted()
        return int(self._arrays()[0].shape[0])

    def fit(self, x: np.ndarray) -> PCACompressor:
        from sklearn.decomposition import PCA

        arr = _check_samples(x)
        flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
        k = min(self.dim, flat.shape[1], flat.shape[0])
        small = min(flat.shape)
        solver = "arpack" if small > 200 and k < small // 4 else "full"
        with fixed_threads(torch_too=False):
            pca = PCA(n_components=k, svd_solver=solver, random_state=0).fit(flat)
        self.input_shape = tuple(arr.shape[1:])
        self.components_ = pca.components_.astype(np.float64)
        self.mean_ = pca.mean_.astype(np.float64)
        self.explained_variance_ = pca.explained_variance_.astype(np.float64)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Codes ``(x - mean) @ components.T``, shape (n, k), float64."""
        self._require_fitted()
        flat = self._flat(x).astype(np.float64)
        components, mean, _ = self._arrays()
        with fixed_threads(torch_too=False):
            return (flat - mean) @ components.T


# --------------------------------------------------------------------------------------------
# autoencoders


def _torch():
    import torch

    return torch


def _build_conv(in_shape: tuple[int, int, int], dim: int):
    """Encoder and decoder modules for images of shape (C, H, W); see the module docstring."""
    torch = _torch()
    from torch import nn

    c, h, w = in_shape
    ph, pw = -(-h // 8) * 8, -(-w // 8) * 8  # padded to a multiple of 8
    fh, fw = ph // 8, pw // 8
    flat = 32 * fh * fw

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.conv3 = nn.Conv2d(16, 32, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.act = nn.LeakyReLU()
            self.fc1 = nn.Linear(flat, 128)
            self.fc2 = nn.Linear(128, dim)

        def logits(self, x):
            x = nn.functional.pad(x, (0, pw - w, 0, ph - h))
            x = self.act(self.pool(self.conv1(x)))
            x = self.act(self.pool(self.conv2(x)))
            x = self.act(self.pool(self.conv3(x)))
            x = self.act(self.fc1(torch.flatten(x, 1)))
            return self.fc2(x)

        def forward(self, x):
            return torch.sigmoid(self.logits(x))

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(dim, 128)
            self.fc2 = nn.Linear(128, flat)
            self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
            self.conv3 = nn.Conv2d(8, c, 3, padding=1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.act = nn.LeakyReLU()

        def forward(self, z):
            x = self.act(self.fc1(z))
            x = self.act(self.fc2(x)).reshape(-1, 32, fh, fw)
            x = self.act(self.conv1(self.up(x)))
            x = self.act(self.conv2(self.up(x)))
            x = self.conv3(self.up(x))
            return x[:, :, :h, :w]

    return Encoder(), Decoder()


def _build_mlp(d: int, dim: int, hidden: tuple[int, ...]):
    torch = _torch()
    nn = torch.nn
    enc_layers: list = []
    prev = d
    for width in hidden:
        enc_layers += [nn.Linear(prev, width), nn.LeakyReLU()]
        prev = width
    enc_layers += [nn.Linear(prev, dim), nn.Sigmoid()]
    dec_layers: list = []
    prev = dim
    for width in reversed(hidden):
        dec_layers += [nn.Linear(prev, width), nn.LeakyReLU()]
        prev = width
    dec_layers += [nn.Linear(prev, d)]
    return nn.Sequential(*enc_layers), nn.Sequential(*dec_layers)


def _logits_of(encoder):
    """The encoder without its final sigmoid (conv: ``.logits``; MLP: all but the last module)."""
    if hasattr(encoder, "logits"):
        return encoder.logits
    return encoder[:-1]


class _Autoencoder(_Base):
    """Training, encoding and state handling shared by the two autoencoders."""

    def __init__(
        self,
        dim: int = 4,
        epochs: int = 200,
        lr: float = 1e-3,
        seed: int = 0,
        batch_size: int = 512,
        noise: float = 0.1,
        progress: bool = False,
    ) -> None:
        self.dim = _positive_int(dim, "dim")
        self.epochs = _positive_int(epochs, "epochs", minimum=0)
        self.lr = _nonneg_float(lr, "lr", positive=True)
        self.seed = _positive_int(seed, "seed", minimum=0)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.noise = _nonneg_float(noise, "noise")
        self.progress = bool(progress)
        self.input_shape = None
        self.encoder: nn.Module | None = None
        self.decoder: nn.Module | None = None
        self.history_: np.ndarray = np.zeros(0)

    output_dim = property(lambda self: self.dim)

    def _params(self) -> dict:
        return {
            "dim": self.dim,
            "epochs": self.epochs,
            "lr": self.lr,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "noise": self.noise,
        }

    # subclasses: build modules for self.input_shape; map numpy input -> float32 tensor batch
    def _build(self) -> None:
        raise NotImplementedError

    def _prepare(self, x: np.ndarray, fitting: bool) -> torch.Tensor:
        raise NotImplementedError

    def _modules(self) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder); ValueError if not fitted."""
        if self.encoder is None or self.decoder is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(x) first")
        return self.encoder, self.decoder

    def _state(self) -> dict[str, np.ndarray]:
        encoder, decoder = self._modules()
        state = {f"encoder.{k}": v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
        state.update({f"decoder.{k}": v.detach().cpu().numpy() for k, v in decoder.state_dict().items()})
        state["history"] = np.asarray(self.history_, dtype=np.float64)
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        torch = _torch()
        with torch.random.fork_rng(devices=[]):
            self._build()
        enc = {k[len("encoder."):]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("encoder.")}
        dec = {k[len("decoder."):]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("decoder.")}
        encoder, decoder = self._modules()
        encoder.load_state_dict(enc, strict=True)
        decoder.load_state_dict(dec, strict=True)
        self.history_ = np.asarray(state.get("history", np.zeros(0)), dtype=np.float64)

    def fit(self, x: np.ndarray) -> Self:
        """Train on ``x`` (see the class docstring for the accepted shapes); return self."""
        with fixed_threads():
            return self._fit(x)

    def _fit(self, x: np.ndarray) -> Self:
        torch = _torch()
        from tqdm.auto import tqdm

        arr = self._set_input_shape(x)
        data = self._prepare(arr, fitting=True)
        n = data.shape[0]
        prev_det = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                self._build()
            encoder, decoder = self._modules()
            gen = torch.Generator().manual_seed(self.seed + 1)
            params = list(encoder.parameters()) + list(decoder.parameters())
            opt = torch.optim.Adam(params, lr=self.lr)
            encoder.train()
            decoder.train()
            history = []
            bar = tqdm(
                range(self.epochs),
                desc=f"{type(self).__name__}(dim={self.dim})",
                file=sys.stderr,
                disable=not self.progress,
                leave=False,
            )
            for _ in bar:
                perm = torch.randperm(n, generator=gen)
                total = 0.0
                for start in range(0, n, self.batch_size):
                    batch = data[perm[start : start + self.batch_size]]
                    z = encoder(batch)
                    if self.noise > 0:
                        z = z + self.noise * torch.randn(z.shape, generator=gen)
                    loss = torch.nn.functional.l1_loss(decoder(z), batch)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * batch.shape[0]
                history.append(total / n)
                bar.set_postfix(loss=f"{history[-1]:.4f}")
            self.history_ = np.asarray(history, dtype=np.float64)
        finally:
            torch.use_deterministic_algorithms(prev_det)
        encoder.eval()
        decoder.eval()
        return self

    def _set_input_shape(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, x: np.ndarray, space: str = "logit") -> np.ndarray:
        """Noiseless latent codes (n, dim), float64.

        ``space="logit"`` (default): the code before the sigmoid, in R^dim (use it for MI
        estimates; see the module docstring). ``space="sigmoid"``: the code in (0, 1)^dim that
        the decoder reads.
        """
        if space not in ("logit", "sigmoid"):
            raise ValueError(f"space must be 'logit' or 'sigmoid'; got space={space!r}")
        self._require_fitted()
        with fixed_threads():
            return self._transform(x, space)

    def _transform(self, x: np.ndarray, space: str) -> np.ndarray:
        torch = _torch()
        data = self._prepare(_check_samples(x), fitting=False)
        encoder, _ = self._modules()
        encoder.eval()
        encode = encoder if space == "sigmoid" else _logits_of(encoder)
        out = []
        with torch.no_grad():
            for start in range(0, data.shape[0], 4096):
                out.append(encode(data[start : start + 4096]).numpy())
        return np.concatenate(out, axis=0).astype(np.float64)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Decoder output for the noiseless codes of ``x``, in the input's shape (as given)."""
        self._require_fitted()
        with fixed_threads():
            return self._reconstruct(x)

    def _reconstruct(self, x: np.ndarray) -> np.ndarray:
        torch = _torch()
        arr = _check_samples(x)
        data = self._prepare(arr, fitting=False)
        encoder, decoder = self._modules()
        with torch.no_grad():
            rec = decoder(encoder(data)).numpy().astype(np.float64)
        return self._unprepare(rec).reshape(arr.shape)

    def _unprepare(self, rec: np.ndarray) -> np.ndarray:
        return rec


class ConvAutoencoder(_Autoencoder):
    """Convolutional autoencoder for images (Butakov et al.'s X compressor).

    Parameters
    ----------
    dim : int
        Latent dimension (default 4).
    epochs, lr, batch_size : training schedule (Adam, L1 loss).
    seed : int
        Seeds initialisation, shuffling and the latent noise.
    noise : float
        Standard deviation of the Gaussian noise added to the latent code during training.
    progress : bool
        Show a tqdm bar on stderr while fitting.

    ``fit``/``transform`` take images (n, C, H, W), (n, H, W) (one channel) or, once fitted,
    the same images flattened to (n, C*H*W).
    """

    def _set_input_shape(self, x: np.ndarray) -> np.ndarray:
        arr = _check_samples(x)
        if arr.ndim == 3:
            arr = arr[:, None]
        if arr.ndim != 4:
            raise ValueError(f"ConvAutoencoder needs images (n, C, H, W) or (n, H, W); got shape {arr.shape}")
        self.input_shape = tuple(int(s) for s in arr.shape[1:])
        return arr

    def _build(self) -> None:
        c, h, w = self._shape()
        self.encoder, self.decoder = _build_conv((c, h, w), self.dim)

    def _prepare(self, x: np.ndarray, fitting: bool) -> torch.Tensor:
        torch = _torch()
        flat = self._flat(x)
        return torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32)).reshape(-1, *self._shape())


class MLPAutoencoder(_Autoencoder):
    """Dense autoencoder for flat vectors (n, d), e.g. the activations of a wide layer.

    Parameters as :class:`ConvAutoencoder`, plus ``hidden``: the encoder's hidden widths (the
    decoder mirrors them), default (128, 64). Inputs are standardised per feature with the
    training mean and standard deviation (features with zero spread get scale 1).
    """

    def __init__(self, dim: int = 4, hidden: tuple[int, ...] | list[int] = (128, 64), **kwargs: Any) -> None:
        super().__init__(dim=dim, **kwargs)
        if isinstance(hidden, (int, np.integer)):
            hidden = (hidden,)
        self.hidden = tuple(_positive_int(h, "hidden") for h in hidden)
        self.input_mean_: np.ndarray | None = None
        self.input_scale_: np.ndarray | None = None

    def _params(self) -> dict:
        return {**super()._params(), "hidden": list(self.hidden)}

    def _set_input_shape(self, x: np.ndarray) -> np.ndarray:
        arr = _check_samples(x)
        self.input_shape = (int(np.prod(arr.shape[1:])),)
        flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
        self.input_mean_ = flat.mean(axis=0)
        scale = flat.std(axis=0)
        self.input_scale_ = np.where(scale > 0, scale, 1.0)
        return arr

    def _build(self) -> None:
        self.encoder, self.decoder = _build_mlp(self._shape()[0], self.dim, self.hidden)

    def _standardisation(self) -> tuple[np.ndarray, np.ndarray]:
        """(input_mean, input_scale), each (d,); ValueError if not fitted."""
        if self.input_mean_ is None or self.input_scale_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(x) first")
        return self.input_mean_, self.input_scale_

    def _prepare(self, x: np.ndarray, fitting: bool) -> torch.Tensor:
        torch = _torch()
        mean, scale = self._standardisation()
        flat = (self._flat(x).astype(np.float64) - mean) / scale
        return torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))

    def _unprepare(self, rec: np.ndarray) -> np.ndarray:
        mean, scale = self._standardisation()
        return rec * scale + mean

    def _state(self) -> dict[str, np.ndarray]:
        mean, scale = self._standardisation()
        return {**super()._state(), "input_mean": mean, "input_scale": scale}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.input_mean_ = np.asarray(state["input_mean"], dtype=np.float64)
        self.input_scale_ = np.asarray(state["input_scale"], dtype=np.float64)
        super()._set_state(state)


# --------------------------------------------------------------------------------------------
# factory

_SPEC_KEYS = {
    "none": {"method"},
    "pca": {"method", "dim"},
    "ae": {"method", "dim", "epochs", "lr", "seed", "batch_size", "noise", "hidden", "progress"},
}


def make_compressor(
    spec: dict, input_shape: tuple[int, ...]
) -> IdentityCompressor | PCACompressor | ConvAutoencoder | MLPAutoencoder:
    """Build an (unfitted) compressor from a config entry.

    Parameters
    ----------
    spec : dict
        ``{method: none|pca|ae, dim: 4, epochs, lr, seed, batch_size, noise, hidden}``; ``dim``
        defaults to 4, the autoencoder keys to the class defaults. ``hidden`` applies to flat
        input only.
    input_shape : tuple of int
        Shape of one sample: ``(C, H, W)`` or ``(H, W)`` is an image (an ``ae`` becomes a
        :class:`ConvAutoencoder`), ``(d,)`` a flat vector (an ``ae`` becomes an
        :class:`MLPAutoencoder`).

    Raises
    ------
    ValueError
        Naming the key for an unknown method, an unknown key or an invalid value.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"compression spec must be a mapping; got {type(spec).__name__}")
    method = spec.get("method", "none")
    if method is None:
        method = "none"
    if method not in _SPEC_KEYS:
        raise ValueError(f"compression method={method!r} is unknown; choose one of {sorted(_SPEC_KEYS)}")
    unknown = sorted(set(spec) - _SPEC_KEYS[method])
    if unknown:
        raise ValueError(
            f"compression spec key {unknown[0]!r} is not valid for method {method!r}; "
            f"valid keys: {sorted(_SPEC_KEYS[method])}"
        )
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError as exc:
        raise ValueError(f"input_shape must be a tuple of ints; got {input_shape!r}") from exc
    if not shape or any(s < 1 for s in shape) or len(shape) > 3:
        raise ValueError(f"input_shape must be (d,), (H, W) or (C, H, W) with positive sizes; got {input_shape!r}")
    params = {k: v for k, v in spec.items() if k != "method"}
    if method == "none":
        return IdentityCompressor()
    if method == "pca":
        return PCACompressor(dim=params.get("dim", 4))
    if len(shape) >= 2:
        if "hidden" in params:
            raise ValueError("compression spec key 'hidden' applies to flat input only, not to images")
        return ConvAutoencoder(**params)
    return MLPAutoencoder(**params)
