"""Training loop: a group of seeds at once, the recording schedule, resumable checkpoints,
activation stores and metrics.

One call of :func:`train_group` trains the networks of several seeds of a study together and
leaves, per seed, an activation store (:mod:`infoplane.store`, moved into place at the end),
one metrics CSV with :data:`infoplane.tables.METRIC_COLUMNS` for all of them (sorted by seed,
epoch; epoch 0 = the initialisation) and, when asked, one SGD-diagnostics CSV
(:data:`infoplane.tables.SGD_COLUMNS`). :func:`train_run` is the group of one.

Noise. ``model.noise`` (relative, Butakov et al. 2024) acts before every linear/conv layer;
``model.additive_noise`` = beta adds N(0, beta^2 I) after every hidden layer's activation (the
noisy network of Goldfeld et al., ICML 2019). Both are on in training and in the evaluation pass
(the metrics). The RECORDED activations of a network with additive noise are the noiseless
outputs of each hidden layer: the recording pass runs with the additive noise off (everywhere,
so no earlier layer's additive noise reaches a later layer either); an estimator models the noisy
representation as T = recorded + N(0, beta^2 I) (stores carry ``attrs["additive_noise"]`` = beta).
The relative noise stays on in the recording pass, with its own draws.

Weight decay. ``training.weight_decay`` = lambda adds (lambda / 2) * sum ||W||_F^2 over every
weight matrix/kernel except the output layer's (no biases) to the training loss, i.e. lambda * W
to those gradients, for Adam and SGD alike (coupled L2, as ``torch.optim.Adam(weight_decay=...)``):
the penalty of Chelombiev et al. (ICLR 2019), authors' code ivansche/adaptive_estimators,
``idnns/networks/model.py``: ``penalty * sum(tf.nn.l2_loss(W))`` over the hidden layers' weights,
``tf.nn.l2_loss(W) = sum(W**2) / 2``, default ``-penalty 0.015``. The recorded losses are the
cross-entropy alone.

SGD diagnostics (Shwartz-Ziv & Tishby 2017, figure 4; computed as the logger of artemyk/ibsgd,
``loggingreporter.py``, does). For every training epoch e that is a recorded epoch, per seed and
per layer with weights: the weight gradient of the training loss (with the weight-decay term) of
every mini-batch of epoch e, each at the weights the optimiser holds when that mini-batch is
drawn, i.e. the very gradients of the training steps (ibsgd takes them at the same weights during
the training epoch, on its own shuffle of the training set: the same distribution; ours need no
extra pass and no extra random draws). Over the mini-batches (each counted once, the smaller
last one too): ``grad_mean`` = ||mean||_F, ``grad_std`` = ||elementwise population std||_F
(numpy's ddof=0, as ibsgd), and ``weight_norm`` = ||W||_F after the epoch; float64 (Welford's
update). Epoch 0 (no training epoch before it) has NaN gradients and the initial weight norm.
Both engines compute them.

Engines. MLPs (every activation, with or without noise) are trained as ONE batched model
(:class:`infoplane.models.batched.BatchedMLP`: stacked weights, a hand-written forward/backward
pass and Adam/SGD on one flat buffer). Noiseless MLPs on the CPU run each epoch as one compiled
call (:mod:`infoplane.models.fused`: the same arithmetic, 2.8x faster at 25 seeds; with
``training.threads`` > 1 the seeds are split over threads); noisy ones step through torch ops.
Other models (the conv net) fall back to one ``torch.nn.Module`` and optimiser per seed, stepped
one seed after another inside each epoch.

Randomness (Shwartz-Ziv & Tishby 2017 set-up, Butakov et al. 2024 noise) comes only from explicit
generators derived from each seed: ``init`` (weights), ``shuffle`` (batch order) and ``noise``
(the stochastic layers during training); the noise of the evaluation and recording passes comes
from generators derived from (seed, epoch), so recording never disturbs training and a resumed
run is bit-identical to an uninterrupted one. The train/eval split depends only on
``dataset.split_seed``. A seed trained in a group is bit-identical to the same seed trained alone
(see :mod:`infoplane.models.batched` for why that needs aligned memory).

Files in ``workdir``: ``checkpoint.pt`` (every seed's parameters, optimiser and generator
states, metrics so far, the epoch and config hash; written atomically) every
``training.checkpoint_every`` epochs, and ``seed<s>.partial.zarr`` per seed. Recorded
activations are buffered in memory and written to the partial stores before every checkpoint
(and whenever the buffer passes :data:`FLUSH_BYTES`), so a store is never behind its checkpoint.
A rerun with the same config hash and seeds resumes from the checkpoint; anything else starts over.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from infoplane import store as act_store
from infoplane.atomic import atomic_path, replace, write_text_atomic
from infoplane.datasets import Dataset, load_dataset, train_eval_split
from infoplane.models import build_model
from infoplane.models.batched import (
    BatchedAdam,
    BatchedMLP,
    BatchedSGD,
    aligned,
    aligned_empty,
)
from infoplane.models.fused import ACTIVATION_CODES, fused_epoch
from infoplane.tables import METRIC_COLUMNS, SGD_COLUMNS

CHECKPOINT = "checkpoint.pt"
#: Recorded activations held in memory before they are handed to the store writer (bytes).
FLUSH_BYTES = 256 * 2**20
#: Flushes queued for the background store writer before training waits for it.
_MAX_IN_FLIGHT = 2
_EVAL_BATCH = 4096
_STREAMS = {"init": 0, "shuffle": 1, "noise": 2, "eval_noise": 3, "record_noise": 4}
log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT", "METRIC_COLUMNS", "StoreWriter", "record_epochs", "resolve_device", "train_group", "train_run"]


def record_epochs(epochs: int, num: int, spacing: str = "log", include_init: bool = True) -> np.ndarray:
    """Epochs at which activations are recorded.

    An epoch value e is the state after e completed epochs (0 = the initialisation).

    Parameters
    ----------
    epochs : int >= 1
        Number of training epochs E.
    num : int >= 1
        Number of points before de-duplication.
    spacing : {"log", "linear"}
        log (IDNNs): ``unique(floor(logspace(0, log2 E, num, base=2)))``, i.e. 1..E;
        linear: ``unique(round(linspace(0, E, num)))``.
    include_init : bool
        Add epoch 0 (log) / keep it (linear).

    Returns
    -------
    int64 ndarray, sorted, unique, within 0..E; always contains E for num >= 2.
    """
    for key, val in (("epochs", epochs), ("num", num)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"record_epochs: {key}={val!r} must be an integer >= 1")
    if spacing == "log":
        pts = np.logspace(0.0, math.log2(epochs), int(num), base=2.0)
        pts = np.floor(pts * (1.0 + 1e-12))  # 2**log2(E) can come out as E - 1e-12
    elif spacing == "linear":
        pts = np.round(np.linspace(0.0, float(epochs), int(num)))
    else:
        raise ValueError(f"record_epochs: spacing={spacing!r}; choose log or linear")
    out = set(np.clip(pts, 0, epochs).astype(np.int64).tolist())
    if include_init:
        out.add(0)
    else:
        out.discard(0)
    if not out:
        raise ValueError(
            f"record_epochs: no epochs to record (epochs={epochs}, num={num}, spacing={spacing}, include_init=False)"
        )
    return np.array(sorted(out), dtype=np.int64)


def resolve_device(name: str) -> torch.device:
    """``training.device``: cpu, cuda (an error without a GPU) or auto (cuda when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "training.device='cuda' but torch finds no CUDA GPU (torch.cuda.is_available() is False, "
            f"torch {torch.__version__}); use device: cpu or auto"
        )
    return torch.device(name)


# --------------------------------------------------------------------------------------------
# seams: where tests (and callers) inject faults


class StoreWriter:
    """Writes the activation stores; tests subclass it to inject faults (e.g. SIGKILL mid-write)."""

    def create(self, path: Path, **kwargs: Any) -> None:
        act_store.create_store(path, **kwargs)

    def write(
        self,
        path: Path,
        start: int,
        activations: Mapping[str, np.ndarray | Sequence[np.ndarray]],
        metrics: dict[str, np.ndarray],
    ) -> None:
        """Recorded epochs ``start .. start + k - 1``: activations as k per-epoch arrays (or one
        array with a leading epoch axis of length k), metrics with a leading epoch axis."""
        act_store.write_epochs(path, start, activations, metrics)

    def finalize(self, path: Path, status: str, reason: str, epochs_trained: int) -> None:
        act_store.finalize_store(path, status=status, reason=reason, epochs_trained=epochs_trained)


# --------------------------------------------------------------------------------------------
# small helpers


def _derived_seed(seed: int, *parts: int) -> int:
    """A 63-bit seed derived from (seed, *parts) by numpy's SeedSequence."""
    return int(np.random.SeedSequence([int(seed), *map(int, parts)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _generator(seed: int, stream: str, epoch: int | None = None) -> torch.Generator:
    parts = [_STREAMS[stream]] + ([epoch] if epoch is not None else [])
    return torch.Generator().manual_seed(_derived_seed(seed, *parts))


#: torch.utils.deterministic's flag (a property of the module's class, which torch's stubs do
#: not declare): whether torch.empty fills new memory with NaN under deterministic mode.
_FILL_FLAG = "fill_uninitialized_memory"


@contextlib.contextmanager
def _deterministic_torch(threads: int) -> Iterator[None]:
    """Deterministic algorithms and a fixed number of intra-op threads; restored afterwards."""
    import torch.utils.deterministic as det

    old_det, old_fill = torch.are_deterministic_algorithms_enabled(), getattr(det, _FILL_FLAG)
    old_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    setattr(det, _FILL_FLAG, False)  # NaN-filling every torch.empty cost 12% of a step
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        setattr(det, _FILL_FLAG, old_fill)
        torch.set_num_threads(old_threads)


def _split_metrics(
    loss: torch.Tensor, correct: torch.Tensor, idx_train: torch.Tensor, idx_eval: torch.Tensor
) -> np.ndarray:
    """(train_loss, train_acc, eval_loss, eval_acc) per seed, shape (S, 4), from per-sample values
    (S, n); NaN for an empty split. Means in float64."""
    cols = []
    for idx in (idx_train, idx_eval):
        if idx.numel() == 0:
            cols += [torch.full((loss.shape[0],), math.nan, dtype=torch.float64)] * 2
        else:
            cols += [loss[:, idx].double().mean(1).cpu(), correct[:, idx].double().mean(1).cpu()]
    return torch.stack(cols, dim=1).numpy()


def _first_argmax(z: torch.Tensor) -> torch.Tensor:
    """``z.argmax(1)`` for (S, classes, n) (the first maximum wins), by a loop over the classes:
    8x faster than torch's argmax over a non-last dimension."""
    best, idx = z[:, 0], torch.zeros((z.shape[0], z.shape[2]), dtype=torch.long, device=z.device)
    for c in range(1, z.shape[1]):
        better = z[:, c] > best
        idx.masked_fill_(better, c)
        best = torch.where(better, z[:, c], best)
    return idx


# --------------------------------------------------------------------------------------------
# setup


@dataclass
class _Setup:
    """Everything fixed for one group run."""

    cfg: dict[str, Any]
    chash: str
    seeds: list[int]
    stores: dict[int, Path]
    metrics_csv: Path
    workdir: Path
    data: Dataset
    device: torch.device
    epochs: int
    batch_size: int
    checkpoint_every: int
    eval_every: int
    samples: str
    rec: np.ndarray
    rec_index: dict[int, int]
    rec_ids: np.ndarray
    is_train: np.ndarray
    idx_train: torch.Tensor
    idx_eval: torch.Tensor
    noisy: bool
    sgd_csv: Path | None = None

    def partial(self, seed: int) -> Path:
        return self.workdir / f"seed{seed}.partial.zarr"

    @property
    def checkpoint(self) -> Path:
        return self.workdir / CHECKPOINT


def _setup(
    cfg: dict[str, Any],
    seeds: Sequence[int],
    stores: dict[int, Path],
    metrics_csv: Path,
    workdir: Path,
    sgd_csv: Path | None = None,
) -> _Setup:
    from infoplane.config import config_hash

    dcfg, tcfg, rcfg = cfg["dataset"], cfg["training"], cfg["record"]
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"train: seeds {seeds} must be a non-empty list without repeats")
    data = load_dataset(dcfg["name"], dcfg["root"], dcfg["size"], dcfg["split"])
    idx_train, idx_eval = train_eval_split(data.n, float(dcfg["train_fraction"]), int(dcfg["split_seed"]))
    samples = rcfg["samples"]
    if samples == "eval" and len(idx_eval) == 0:
        raise ValueError("record.samples='eval' but the evaluation split is empty (dataset.train_fraction=1)")
    epochs = int(tcfg["epochs"])
    rec = record_epochs(epochs, int(rcfg["num_epochs"]), rcfg["spacing"], bool(rcfg["include_init"]))
    is_train = np.zeros(data.n, dtype=bool)
    is_train[idx_train] = True
    return _Setup(
        cfg=cfg, chash=config_hash(cfg), seeds=seeds, stores=stores, metrics_csv=metrics_csv, workdir=workdir,
        data=data, device=resolve_device(tcfg["device"]), epochs=epochs, batch_size=int(tcfg["batch_size"]),
        checkpoint_every=int(tcfg["checkpoint_every"]), eval_every=int(tcfg["eval_every"]), samples=samples, rec=rec,
        rec_index={int(e): i for i, e in enumerate(rec)},
        rec_ids=np.arange(data.n, dtype=np.int64) if samples == "all" else idx_eval,
        is_train=is_train, idx_train=torch.from_numpy(idx_train), idx_eval=torch.from_numpy(idx_eval),
        noisy=float(cfg["model"]["noise"]) > 0 or _additive_noise(cfg) > 0,
        sgd_csv=sgd_csv,
    )


def _additive_noise(cfg: dict[str, Any]) -> float:
    """``model.additive_noise`` (beta; 0 when a library caller's config lacks it)."""
    return float(cfg["model"].get("additive_noise", 0.0))


def _weight_decay(cfg: dict[str, Any]) -> float:
    """``training.weight_decay`` (lambda; 0 when a library caller's config lacks it)."""
    return float(cfg["training"].get("weight_decay", 0.0))


class _Welford:
    """Running mean and sum of squared deviations of equally shaped float64 tensors (Welford's
    update: no cancellation when the spread is tiny against the mean)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        self.count += 1
        if self.mean is None or self.m2 is None:
            self.mean, self.m2 = x.clone(), torch.zeros_like(x)
            return
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def std(self) -> torch.Tensor:
        """Elementwise population standard deviation (ddof 0)."""
        assert self.m2 is not None
        return torch.sqrt(self.m2 / self.count)


def _norm(t: torch.Tensor) -> float:
    """Frobenius norm in float64 (numpy on one seed's block: the same order alone or in a group)."""
    a = t.detach().to("cpu", torch.float64).numpy()
    return float(np.sqrt(np.sum(a * a)))


# --------------------------------------------------------------------------------------------
# engines: train one epoch for every seed, evaluate, record, save/load state


class _Engine:
    """What the loop needs from a group of networks (S seeds, in ``setup.seeds`` order)."""

    def __init__(self, setup: _Setup) -> None:
        self.setup = setup
        cfg = setup.cfg
        data = setup.data
        self.nets = [
            build_model(cfg["model"], data.input_shape, data.n_classes, generator=_generator(s, "init"))
            for s in setup.seeds
        ]
        self.layer_names = list(self.nets[0].layer_names)
        self.layer_sizes = self.nets[0].layer_sizes()
        self.weight_layer_names = list(self.nets[0].weight_layers())
        self.tracked = False  # whether the last train_epoch collected the gradient statistics
        self.finite: torch.Tensor | None = None  # (S,) bool: every minibatch loss of the last epoch finite
        self.g_shuffle = [_generator(s, "shuffle") for s in setup.seeds]
        self.g_noise = [_generator(s, "noise") for s in setup.seeds] if setup.noisy else None
        dev = setup.device
        self.x_all = torch.from_numpy(data.x).to(dev)
        self.y_all = torch.from_numpy(data.y).to(dev)
        self.x_train = self.x_all[setup.idx_train.to(dev)].contiguous()
        self.y_train = self.y_all[setup.idx_train.to(dev)].contiguous()
        self.x_rec = self.x_all[torch.from_numpy(setup.rec_ids).to(dev)].contiguous()
        self.idx_train, self.idx_eval = setup.idx_train.to(dev), setup.idx_eval.to(dev)

    def gens(self, stream: str, epoch: int) -> list[torch.Generator] | None:
        return [_generator(s, stream, epoch) for s in self.setup.seeds] if self.setup.noisy else None

    def rng_state(self) -> dict[str, list[torch.Tensor]]:
        out = {"shuffle": [g.get_state() for g in self.g_shuffle]}
        if self.g_noise is not None:
            out["noise"] = [g.get_state() for g in self.g_noise]
        return out

    def load_rng_state(self, state: dict[str, list[torch.Tensor]]) -> None:
        for g, st in zip(self.g_shuffle, state["shuffle"], strict=False):
            g.set_state(st)
        for g, st in zip(self.g_noise or [], state.get("noise", []), strict=False):
            g.set_state(st)

    def finite_losses(self) -> np.ndarray:
        """(S,) bool: whether every minibatch loss of the last training epoch was finite (how a
        seed's divergence is noticed at epochs without an evaluation pass)."""
        if self.finite is None:
            return np.ones(len(self.setup.seeds), dtype=bool)
        return self.finite.cpu().numpy().astype(bool)

    # overridden
    def train_epoch(self, active: list[bool], track: bool = False) -> None:
        """One epoch of every active seed; with ``track`` collect the SGD diagnostics."""
        raise NotImplementedError

    def sgd_stats(self) -> np.ndarray:
        """(S, 3, n_weight_layers) float64: grad_mean, grad_std (NaN unless the last epoch was
        tracked) and weight_norm, in ``weight_layer_names`` order; resets the tracking."""
        raise NotImplementedError

    def evaluate(self, epoch: int, record: bool) -> tuple[np.ndarray, list[dict[str, np.ndarray]] | None]:
        """Metrics (S, 4) and, when ``record``, every seed's recorded layers (n_rec, units)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


class _BatchedEngine(_Engine):
    """All seeds of an MLP as one :class:`BatchedMLP`."""

    def __init__(self, setup: _Setup, fused: bool | None = None) -> None:
        super().__init__(setup)
        mcfg, tcfg = setup.cfg["model"], setup.cfg["training"]
        can_fuse = not setup.noisy and setup.device.type == "cpu" and mcfg["activation"] in ACTIVATION_CODES
        if fused and not can_fuse:
            raise ValueError("the fused training epoch needs a noiseless MLP on the CPU")
        #: Whether epochs run as one compiled call (:mod:`infoplane.models.fused`): noiseless
        #: MLPs on the CPU; noisy ones (torch generators) and GPUs step through torch ops.
        self.fused = can_fuse if fused is None else bool(fused)
        self.model = BatchedMLP(self.nets, mcfg["activation"], float(mcfg["noise"]), device=setup.device,
                                additive_noise=_additive_noise(setup.cfg), weight_decay=_weight_decay(setup.cfg))
        self.nets = []  # the stacked copy is the model now
        lr = float(tcfg["lr"])
        m = self.model
        optimizer = BatchedAdam if tcfg["optimizer"] == "adam" else BatchedSGD
        self.optimizer = optimizer(m.params, m.grads, lr)
        self.stats: _Welford | None = None
        n_seeds = len(setup.seeds)
        self.x_train = self.x_train.reshape(self.x_train.shape[0], -1)
        if self.fused:  # the kernel's view of the layout and the training rows, fixed for the run
            self._fused_layout = (
                np.array([o[0] for o in m._offsets], dtype=np.int64),
                np.array([o[1] for o in m._offsets], dtype=np.int64),
                np.array(m._dims, dtype=np.int64),
                np.ascontiguousarray(self.x_train.numpy(), dtype=np.float32),
                np.ascontiguousarray(self.y_train.numpy(), dtype=np.int64),
            )
        x_all = self.x_all.reshape(self.x_all.shape[0], -1)
        # The evaluation inputs of every seed, aligned per seed (see models.batched), when small.
        self.x_eval = x_all
        self.x_eval_stacked = None
        if n_seeds * x_all.numel() * 4 <= FLUSH_BYTES:
            self.x_eval_stacked = aligned_empty(n_seeds, *x_all.shape, device=setup.device)
            self.x_eval_stacked.copy_(x_all.expand(n_seeds, *x_all.shape))

    def train_epoch(self, active: list[bool], track: bool = False) -> None:
        n_train, bs = self.x_train.shape[0], self.setup.batch_size
        dev = self.setup.device
        perms = torch.stack([torch.randperm(n_train, generator=g) for g in self.g_shuffle]).to(dev)
        if self.fused:
            self._fused_epoch(perms, active, track)
            return
        self.stats = _Welford() if track else None
        finite = torch.ones(len(self.setup.seeds), dtype=torch.bool, device=dev)
        for b in range(0, n_train, bs):
            sel = perms[:, b : b + bs]
            loss = self.model.loss_and_grad(self.x_train[sel], self.y_train[sel], self.g_noise)
            finite &= torch.isfinite(loss)
            if self.stats is not None:
                self.stats.add(self.model.grads)
            self.optimizer.step()
        self.finite = finite
        self.tracked = track

    def _fused_epoch(self, perms: torch.Tensor, active: list[bool], track: bool) -> None:
        """The epoch as one compiled call on the parameters' and Adam moments' memory."""
        m, opt = self.model, self.optimizer
        w_off, b_off, dims, x, y = self._fused_layout
        adam = opt if isinstance(opt, BatchedAdam) else None
        stats = (np.zeros(m.params.shape), np.zeros(m.params.shape)) if track else None

        def run(mask: np.ndarray) -> np.ndarray:
            return fused_epoch(
                m.params.numpy(), adam.exp_avg.numpy() if adam else None, adam.exp_avg_sq.numpy() if adam else None,
                w_off, b_off, dims, x, y, perms.numpy(), self.setup.batch_size, m.activation,
                lr=opt.lr, weight_decay=m.weight_decay, step0=adam.steps if adam else 0, active=mask, stats=stats,
            )

        # Seeds never share arithmetic, so the torch thread count only splits them over threads
        # (the compiled loop releases the GIL); each seed's bits do not depend on it.
        active_np = np.asarray(active, dtype=bool)
        parts = np.array_split(np.arange(len(active_np)), max(1, min(torch.get_num_threads(), len(active_np))))
        masks = []
        for part in parts:  # contiguous runs of seeds, one per thread
            mask = np.zeros_like(active_np)
            mask[part] = active_np[part]
            masks.append(mask)
        if len(masks) == 1:
            finite = run(masks[0])
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(masks)) as pool:
                results = list(pool.map(run, masks))
            finite = np.logical_and.reduce(results)
        n_batches = -(-x.shape[0] // self.setup.batch_size)
        if adam is not None:
            adam.steps += n_batches
        self.stats = None
        if stats is not None:
            self.stats = _Welford()
            self.stats.count = n_batches
            self.stats.mean, self.stats.m2 = torch.from_numpy(stats[0]), torch.from_numpy(stats[1])
        self.finite = torch.from_numpy(finite)
        self.tracked = track

    def sgd_stats(self) -> np.ndarray:
        m = self.model
        out = np.full((len(self.setup.seeds), 3, len(m.weights)), np.nan)
        stats = self.stats if self.tracked else None
        means = m.views(stats.mean)[0] if stats is not None and stats.mean is not None else None
        stds = m.views(stats.std())[0] if stats is not None else None
        for layer, w in enumerate(m.weights):
            for s in range(out.shape[0]):
                if means is not None and stds is not None:
                    out[s, 0, layer], out[s, 1, layer] = _norm(means[layer][s]), _norm(stds[layer][s])
                out[s, 2, layer] = _norm(w[s])
        self.tracked, self.stats = False, None
        return out

    def _eval_inputs(self, start: int, stop: int) -> torch.Tensor:
        if self.x_eval_stacked is not None:
            return self.x_eval_stacked[:, start:stop]
        chunk = self.x_eval[start:stop]
        return aligned(chunk.expand(len(self.setup.seeds), *chunk.shape).contiguous())

    def _layers(
        self,
        rows: int,
        gens: list[torch.Generator] | None,
        inputs: Callable[[int, int], torch.Tensor],
        additive: bool = True,
    ) -> dict[str, torch.Tensor]:
        parts: dict[str, list[torch.Tensor]] = {}
        for start in range(0, rows, _EVAL_BATCH):
            chunk = inputs(start, min(rows, start + _EVAL_BATCH))
            for name, val in self.model.layers(chunk, gens, additive).items():
                parts.setdefault(name, []).append(val)
        return {k: v[0] if len(v) == 1 else torch.cat(v, dim=1) for k, v in parts.items()}

    def evaluate(self, epoch: int, record: bool) -> tuple[np.ndarray, list[dict[str, np.ndarray]] | None]:
        s = self.setup
        layers = self._layers(self.x_eval.shape[0], self.gens("eval_noise", epoch), self._eval_inputs)
        logits_t = layers["logits"].transpose(1, 2)  # contiguous (S, classes, n)
        logp = torch.log_softmax(logits_t, dim=1)
        y = self.y_all.expand(logp.shape[0], -1)
        loss = -logp.gather(1, y.unsqueeze(1)).squeeze(1)
        correct = _first_argmax(logits_t) == y
        metrics = _split_metrics(loss, correct, self.idx_train, self.idx_eval)
        if not record:
            return metrics, None
        if s.noisy:  # the recording pass draws its own noise; no additive noise
            x_rec = self.x_rec.reshape(self.x_rec.shape[0], -1)
            n_seeds = len(s.seeds)

            def rec_inputs(a: int, b: int) -> torch.Tensor:
                return aligned(x_rec[a:b].expand(n_seeds, b - a, x_rec.shape[1]).contiguous())

            layers = self._layers(x_rec.shape[0], self.gens("record_noise", epoch), rec_inputs, additive=False)
        elif s.samples == "eval":
            rows = torch.from_numpy(s.rec_ids).to(s.device)
            layers = {k: v[:, rows] for k, v in layers.items()}
        layers["softmax"] = torch.softmax(layers["logits"], dim=2)
        acts = [{name: layers[name][i].cpu().numpy() for name in self.layer_names} for i in range(len(s.seeds))]
        return metrics, acts

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.model.params.cpu().clone(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.params.copy_(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])


class _ModuleEngine(_Engine):
    """One torch module and optimiser per seed (non-MLP models), stepped one seed after another."""

    def __init__(self, setup: _Setup) -> None:
        super().__init__(setup)
        self.nets = [net.to(setup.device) for net in self.nets]
        self.optimizers = [_make_optimizer(net, setup.cfg["training"]) for net in self.nets]
        self.loss_fn = F.nll_loss if self.nets[0].output_kind == "log_probs" else F.cross_entropy
        self.weight_decay = _weight_decay(setup.cfg)
        self.stats: list[list[_Welford]] = []

    def train_epoch(self, active: list[bool], track: bool = False) -> None:
        n_train, bs = self.x_train.shape[0], self.setup.batch_size
        n_layers = len(self.weight_layer_names)
        self.stats = [[_Welford() for _ in range(n_layers)] for _ in self.nets] if track else []
        finite = torch.ones(len(self.nets), dtype=torch.bool)
        for i, (net, opt) in enumerate(zip(self.nets, self.optimizers, strict=False)):
            if not active[i]:
                continue
            g_noise = self.g_noise[i] if self.g_noise is not None else None
            params = [p for group in opt.param_groups for p in group["params"]]
            weights = [lay.weight for lay in net.weight_layers().values()]
            decayed = weights[:-1] if self.weight_decay > 0 else []  # not the output layer, no biases
            net.train()
            perm = torch.randperm(n_train, generator=self.g_shuffle[i]).to(self.setup.device)
            for b in range(0, n_train, bs):
                sel = perm[b : b + bs]
                loss = self.loss_fn(net(self.x_train[sel], g_noise), self.y_train[sel])
                finite[i] &= bool(torch.isfinite(loss.detach()))
                for p in params:  # = optimizer.zero_grad(set_to_none=True), without its overhead
                    p.grad = None
                loss.backward()
                for w in decayed:  # d/dW of (lambda / 2) ||W||^2, as Adam(weight_decay=lambda) adds it
                    assert w.grad is not None
                    w.grad.add_(w, alpha=self.weight_decay)
                for acc, w in zip(self.stats[i] if track else [], weights, strict=False):
                    assert w.grad is not None
                    acc.add(w.grad)
                opt.step()
            net.eval()
        self.finite = finite
        self.tracked = track

    def sgd_stats(self) -> np.ndarray:
        out = np.full((len(self.nets), 3, len(self.weight_layer_names)), np.nan)
        for s, net in enumerate(self.nets):
            for layer, lay in enumerate(net.weight_layers().values()):
                acc = self.stats[s][layer] if self.tracked else None
                if acc is not None and acc.mean is not None:
                    out[s, 0, layer], out[s, 1, layer] = _norm(acc.mean), _norm(acc.std())
                out[s, 2, layer] = _norm(lay.weight)
        self.tracked, self.stats = False, []
        return out

    def evaluate(self, epoch: int, record: bool) -> tuple[np.ndarray, list[dict[str, np.ndarray]] | None]:
        s = self.setup
        metrics, acts = [], []
        for net, seed in zip(self.nets, s.seeds, strict=False):
            gen = _generator(seed, "eval_noise", epoch) if s.noisy else None
            with torch.no_grad():
                outs = [net(self.x_all[a : a + _EVAL_BATCH], gen) for a in range(0, self.x_all.shape[0], _EVAL_BATCH)]
                out = outs[0] if len(outs) == 1 else torch.cat(outs)
                if net.output_kind == "log_probs":
                    loss = F.nll_loss(out, self.y_all, reduction="none")
                else:
                    loss = F.cross_entropy(out, self.y_all, reduction="none")
                correct = out.argmax(dim=1) == self.y_all
            metrics.append(_split_metrics(loss[None], correct[None], self.idx_train, self.idx_eval)[0])
            if record:
                rgen = _generator(seed, "record_noise", epoch) if s.noisy else None
                with net.additive_noise_off():  # recorded: the noiseless layer outputs
                    layers = net.forward_layers(self.x_rec, generator=rgen)
                acts.append({k: v.cpu().numpy() for k, v in layers.items()})
        return np.array(metrics), (acts if record else None)

    def state_dict(self) -> dict[str, Any]:
        return {"models": [n.state_dict() for n in self.nets], "optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for net, opt, ms, os_ in zip(self.nets, self.optimizers, state["models"], state["optimizers"], strict=False):
            net.load_state_dict(ms)
            opt.load_state_dict(os_)


def _make_optimizer(model: torch.nn.Module, tcfg: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam or SGD; the fused kernel when this torch has it (about 1.5x faster per step for small
    nets, where per-op overhead dominates), else the foreach one."""
    cls = torch.optim.Adam if tcfg["optimizer"] == "adam" else torch.optim.SGD
    try:
        return cls(model.parameters(), lr=float(tcfg["lr"]), fused=True)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - older torch without CPU fused kernels
        return cls(model.parameters(), lr=float(tcfg["lr"]), foreach=True)


def _make_engine(setup: _Setup, batched: bool | None = None) -> _Engine:
    """The batched engine for MLPs, the per-seed module engine otherwise (``batched`` forces one)."""
    if batched is None:
        batched = setup.cfg["model"]["kind"] == "mlp"
    return _BatchedEngine(setup) if batched else _ModuleEngine(setup)


# --------------------------------------------------------------------------------------------
# the run's mutable state: epoch, metrics, per-seed status, buffered recordings


class _Writes:
    """Store writes on one background thread, so that compressing and writing the recorded
    activations overlaps training (on 2 cores: one trains, one writes). At most
    :data:`_MAX_IN_FLIGHT` flushes wait; :meth:`wait` re-raises a write's exception."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infoplane-store")
        self.futures: list[Any] = []

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.futures.append(self.pool.submit(fn, *args))
        while len(self.futures) > _MAX_IN_FLIGHT:
            self.futures.pop(0).result()

    def wait(self) -> None:
        while self.futures:
            self.futures.pop(0).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _State:
    epoch: int
    metrics: dict[int, list[list[float]]]
    status: dict[int, tuple[str, str]]  # seed -> (status, reason); "running" while training
    pending: dict[int, list[tuple[int, dict[str, np.ndarray], np.ndarray, np.ndarray]]] = field(default_factory=dict)
    pending_bytes: int = 0
    writes: _Writes = field(default_factory=lambda: _Writes())

    def active(self, seeds: list[int]) -> list[bool]:
        return [self.status[s][0] == "running" for s in seeds]


def _store_attrs(setup: _Setup, seed: int) -> dict[str, Any]:
    from infoplane.provenance import provenance_attrs

    cfg, data = setup.cfg, setup.data
    attrs = provenance_attrs(cfg, seed)
    attrs.update(
        config_hash=setup.chash,
        seed=int(seed),
        study=str(cfg["study"]),
        dataset=data.name,
        discrete_inputs=bool(data.discrete_inputs),
        n_classes=int(data.n_classes),
        record_samples=setup.samples,
        train_fraction=float(cfg["dataset"]["train_fraction"]),
        split_seed=int(cfg["dataset"]["split_seed"]),
        additive_noise=_additive_noise(cfg),
        weight_decay=_weight_decay(cfg),
        config=_json_sections(cfg),
    )
    return attrs


def _json_sections(cfg: dict[str, Any]) -> str:
    import json

    return json.dumps({k: cfg[k] for k in ("dataset", "model", "training", "record")}, sort_keys=True, default=str)


def _partial_matches(partial: Path, chash: str, seed: int) -> bool:
    """Whether ``partial`` is a store created by this config hash and seed."""
    if not (partial / "zarr.json").is_file():
        return False
    try:
        import zarr

        attrs = zarr.open_group(str(partial), mode="r").attrs
        return attrs.get("config_hash") == chash and attrs.get("seed") == seed
    except Exception:
        return False


def _load_checkpoint(setup: _Setup) -> dict[str, Any] | None:
    """The checkpoint if it belongs to this config, these seeds and their partial stores, else None."""
    path = setup.checkpoint
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # damaged checkpoint
        return None
    if state.get("config_hash") != setup.chash or state.get("seeds") != setup.seeds:
        return None
    if not all(_partial_matches(setup.partial(s), setup.chash, s) for s in setup.seeds):
        return None
    return state


def _init_or_resume(setup: _Setup, engine: _Engine, writer: StoreWriter) -> _State:
    """Resume from a matching checkpoint, or create fresh partial stores."""
    setup.workdir.mkdir(parents=True, exist_ok=True)
    ckpt = _load_checkpoint(setup)
    if ckpt is not None:
        engine.load_state_dict(ckpt["engine"])
        engine.load_rng_state(ckpt["rng"])
        log.info("seeds %s: resuming from the checkpoint of epoch %d in %s", setup.seeds, ckpt["epoch"], setup.workdir)
        return _State(
            epoch=int(ckpt["epoch"]),
            metrics={int(s): [list(r) for r in rows] for s, rows in zip(setup.seeds, ckpt["metrics"], strict=False)},
            status={int(s): (st, why) for s, (st, why) in zip(setup.seeds, ckpt["status"], strict=False)},
        )
    if setup.checkpoint.exists():
        log.info("seeds %s: checkpoint in %s is from another config or seeds (or damaged); starting fresh",
                 setup.seeds, setup.workdir)
    setup.checkpoint.unlink(missing_ok=True)
    data, rec_ids = setup.data, setup.rec_ids
    for seed in setup.seeds:
        partial = setup.partial(seed)
        replace_dir = partial.exists()
        if replace_dir:
            import shutil

            shutil.rmtree(partial)
        writer.create(
            partial,
            layers=engine.layer_sizes,
            epochs=setup.rec,
            sample_id=rec_ids,
            label=data.y[rec_ids],
            is_train=setup.is_train[rec_ids],
            inputs=data.x[rec_ids],
            attrs=_store_attrs(setup, seed),
            weight_layers=engine.weight_layer_names,
        )
    return _State(epoch=-1, metrics={s: [] for s in setup.seeds}, status={s: ("running", "") for s in setup.seeds})


# --------------------------------------------------------------------------------------------
# per-epoch steps


def _write_seed(
    writer: StoreWriter, path: Path, items: list[tuple[int, dict[str, np.ndarray], np.ndarray, np.ndarray]]
) -> None:
    """Write one seed's buffered recorded epochs (index, activations, metrics (4,), SGD
    diagnostics (3, n_weight_layers)), each run of consecutive indices in one write."""
    start = 0
    while start < len(items):
        stop = start + 1
        while stop < len(items) and items[stop][0] == items[stop - 1][0] + 1:
            stop += 1
        run = items[start:stop]
        acts = {name: [it[1][name] for it in run] for name in run[0][1]}  # per epoch: not stacked
        vals = np.stack([it[2] for it in run])
        sgd = np.stack([it[3] for it in run])  # (k, 3, n_weight_layers)
        metrics = {v: vals[:, j] for j, v in enumerate(act_store.EPOCH_VARS)}
        metrics.update({v: sgd[:, j] for j, v in enumerate(act_store.SGD_VARS)})
        writer.write(path, run[0][0], acts, metrics)
        start = stop


def _flush(setup: _Setup, state: _State, writer: StoreWriter) -> None:
    """Hand the buffered recorded epochs of every seed to the background writer."""
    for seed, items in state.pending.items():
        state.writes.submit(_write_seed, writer, setup.partial(seed), items)
    state.pending = {}
    state.pending_bytes = 0


def _save_checkpoint(setup: _Setup, engine: _Engine, state: _State, writer: StoreWriter) -> None:
    _flush(setup, state, writer)  # the stores first: they are never behind the checkpoint
    state.writes.wait()
    payload = {
        "config_hash": setup.chash,
        "seeds": setup.seeds,
        "epoch": state.epoch,
        "engine": engine.state_dict(),
        "rng": engine.rng_state(),
        "metrics": [state.metrics[s] for s in setup.seeds],
        "status": [list(state.status[s]) for s in setup.seeds],
    }
    with atomic_path(setup.checkpoint) as tmp:
        torch.save(payload, tmp)


def _evaluated(setup: _Setup, epoch: int) -> bool:
    """Whether ``epoch`` gets the evaluation pass (loss and accuracy on every sample, a row of the
    metrics table): every ``training.eval_every``-th epoch, every recorded epoch and the last."""
    return epoch % setup.eval_every == 0 or epoch in setup.rec_index or epoch == setup.epochs


def _check_training_losses(setup: _Setup, engine: _Engine, state: _State) -> None:
    """At an epoch without an evaluation pass, stop every running seed whose minibatch losses
    were not all finite."""
    finite = engine.finite_losses()
    for i, seed in enumerate(setup.seeds):
        if state.status[seed][0] == "running" and not finite[i]:
            state.status[seed] = ("diverged", f"non-finite training loss at epoch {state.epoch}")
            log.info("seed %d: non-finite training loss at epoch %d; stopping this seed", seed, state.epoch)


def _end_of_epoch(setup: _Setup, engine: _Engine, state: _State, writer: StoreWriter) -> None:
    """Evaluate every running seed (at the epochs of :func:`_evaluated`), buffer recorded
    activations, checkpoint on schedule."""
    epoch = state.epoch
    recorded = epoch in setup.rec_index
    if not _evaluated(setup, epoch):
        _check_training_losses(setup, engine, state)
        if epoch > 0 and epoch % setup.checkpoint_every == 0 and epoch < setup.epochs:
            _save_checkpoint(setup, engine, state, writer)
        return
    metrics, acts = engine.evaluate(epoch, recorded)
    sgd = engine.sgd_stats() if recorded else None
    has_eval = setup.idx_eval.numel() > 0
    for i, seed in enumerate(setup.seeds):
        if state.status[seed][0] != "running":
            continue
        vals = metrics[i]
        state.metrics[seed].append([epoch, *vals.tolist()])
        if not (math.isfinite(vals[0]) and (math.isfinite(vals[2]) or not has_eval)):
            state.status[seed] = ("diverged", f"non-finite loss at epoch {epoch}")
            log.info("seed %d: non-finite loss at epoch %d; stopping this seed", seed, epoch)
            continue
        if recorded and acts is not None and sgd is not None:
            state.pending.setdefault(seed, []).append((setup.rec_index[epoch], acts[i], vals, sgd[i]))
            state.pending_bytes += sum(a.nbytes for a in acts[i].values())
    if state.pending_bytes >= FLUSH_BYTES:
        _flush(setup, state, writer)
    if epoch > 0 and epoch % setup.checkpoint_every == 0 and epoch < setup.epochs:
        _save_checkpoint(setup, engine, state, writer)


def _finish(setup: _Setup, state: _State, writer: StoreWriter) -> None:
    """Flush, finalise and move every store into place, then write the metrics CSV."""
    _flush(setup, state, writer)
    state.writes.wait()
    for seed in setup.seeds:
        status, reason = state.status[seed]
        status = "ok" if status == "running" else status
        writer.finalize(setup.partial(seed), status, reason, int(state.metrics[seed][-1][0]))
    for seed in setup.seeds:
        replace(setup.partial(seed), setup.stores[seed])
    lines = [",".join(METRIC_COLUMNS)]
    for seed in sorted(setup.seeds):
        for epoch, *vals in state.metrics[seed]:
            lines.append(",".join([str(seed), str(int(epoch))] + [repr(float(v)) for v in vals]))
    write_text_atomic(setup.metrics_csv, "\n".join(lines) + "\n")
    if setup.sgd_csv is not None:
        _write_sgd_csv(setup, setup.sgd_csv, {s: int(state.metrics[s][-1][0]) for s in setup.seeds})
    setup.checkpoint.unlink(missing_ok=True)


def _write_sgd_csv(setup: _Setup, path: Path, last_epoch: dict[int, int]) -> None:
    """The SGD diagnostics of every seed (read back from its finished store) as one CSV with
    :data:`~infoplane.tables.SGD_COLUMNS`, sorted by (seed, layer_index, epoch); a seed's rows
    end at its last trained epoch; ``snr`` = grad_mean / grad_std (inf when grad_std is 0)."""
    lines = [",".join(SGD_COLUMNS)]
    for seed in sorted(setup.seeds):
        reader = act_store.StoreReader(setup.stores[seed])
        vals = {v: reader.variable(v) for v in act_store.SGD_VARS}  # (epoch, weight_layer)
        names = [str(name) for name in reader.attrs["weight_layers"]]
        for j, layer in enumerate(names):
            for i, epoch in enumerate(setup.rec):
                if epoch > last_epoch[seed]:
                    break
                mean, std, wnorm = (float(vals[v][i, j]) for v in act_store.SGD_VARS)
                with np.errstate(divide="ignore", invalid="ignore"):
                    snr = float(np.float64(mean) / np.float64(std))
                row = [str(seed), layer, str(j), str(int(epoch))] + [repr(x) for x in (mean, std, snr, wnorm)]
                lines.append(",".join(row))
    write_text_atomic(path, "\n".join(lines) + "\n")


def _progress_bar(setup: _Setup, start: int, progress: bool):
    from tqdm.auto import tqdm

    seeds = setup.seeds
    who = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})"
    return tqdm(
        total=setup.epochs, initial=start, disable=not progress, file=sys.stderr,
        desc=f"{setup.cfg['study']} {who}", unit="epoch",
        mininterval=1.0 if sys.stderr.isatty() else 30.0,  # a log file gets a line every 30 s
    )


# --------------------------------------------------------------------------------------------
# public entry points


def _train(
    cfg: dict[str, Any],
    seeds: Sequence[int],
    stores: dict[int, Path],
    metrics_csv: Path,
    workdir: Path,
    progress: bool,
    *,
    on_epoch_end: Callable[[int], None] | None = None,
    writer: StoreWriter | None = None,
    threads: int | None = None,
    batched: bool | None = None,
    sgd_csv: Path | None = None,
) -> None:
    writer = writer or StoreWriter()
    setup = _setup(cfg, seeds, stores, metrics_csv, workdir, Path(sgd_csv) if sgd_csv is not None else None)
    with _deterministic_torch(int(threads or cfg["training"]["threads"])):
        engine = _make_engine(setup, batched)
        state = _init_or_resume(setup, engine, writer)
        try:
            _epochs(setup, engine, state, writer, progress, on_epoch_end)
            _finish(setup, state, writer)
        finally:
            state.writes.close()


def _epochs(
    setup: _Setup,
    engine: _Engine,
    state: _State,
    writer: StoreWriter,
    progress: bool,
    on_epoch_end: Callable[[int], None] | None,
) -> None:
    """Epoch 0 (the initialisation) unless resumed, then train until the last epoch or until
    every seed has diverged."""
    if state.epoch < 0:
        state.epoch = 0
        _end_of_epoch(setup, engine, state, writer)
    bar = _progress_bar(setup, state.epoch, progress)
    t0, first = time.monotonic(), state.epoch
    try:
        while state.epoch < setup.epochs and any(state.active(setup.seeds)):
            engine.train_epoch(state.active(setup.seeds), track=(state.epoch + 1) in setup.rec_index)
            state.epoch += 1
            _end_of_epoch(setup, engine, state, writer)
            bar.update(1)
            if on_epoch_end is not None:
                on_epoch_end(state.epoch)
    finally:
        bar.close()
    done = state.epoch - first
    if done and progress:
        elapsed = time.monotonic() - t0
        print(f"trained {len(setup.seeds)} seed(s) x {done} epochs in {elapsed:.1f} s "
              f"({done / elapsed:.1f} epochs/s)", file=sys.stderr)


def train_group(
    cfg: dict[str, Any],
    seeds: Sequence[int],
    outdir: str | Path,
    metrics: str | Path,
    workdir: str | Path,
    progress: bool = True,
    *,
    on_epoch_end: Callable[[int], None] | None = None,
    writer: StoreWriter | None = None,
    threads: int | None = None,
    sgd: str | Path | None = None,
) -> None:
    """Train the networks of several seeds together; write one store per seed, one metrics CSV
    and (with ``sgd``) one SGD-diagnostics CSV.

    Parameters
    ----------
    cfg : dict
        The validated config with every default filled (sections dataset, model, training,
        record; see the schema).
    seeds : sequence of int
        Network seeds (initial weights, batch order, noise); each seed's result is bit-identical
        to training it alone.
    outdir : path
        Gets ``seed<s>.zarr`` per seed, each moved into place atomically at the end.
    metrics : path
        CSV with :data:`~infoplane.tables.METRIC_COLUMNS` for every seed and epoch, sorted by
        (seed, epoch); written after the stores.
    workdir : path
        The group's checkpoint and partial stores; a rerun with the same config and seeds resumes.
    progress : bool
        A progress bar on stderr (epochs per second and time left).
    on_epoch_end : callable(epoch), optional
        Called after every epoch's evaluation, recording and checkpoint (tests inject faults here).
    writer : StoreWriter, optional
        Writes the stores (tests inject faults here).
    threads : int, optional
        torch intra-op threads; default ``training.threads``.
    sgd : path, optional
        CSV with :data:`~infoplane.tables.SGD_COLUMNS` (the SGD diagnostics of the module
        docstring) for every seed, layer with weights and recorded epoch, sorted by (seed,
        layer_index, epoch); written after the metrics CSV. The stores hold them either way.

    Notes
    -----
    A seed whose loss becomes non-finite at epoch N stops there without raising: its store holds
    the epochs recorded so far (later ones NaN) with attrs ``status="diverged"`` and
    ``reason="non-finite loss at epoch N"``, and its metrics end at epoch N; the other seeds go on.
    """
    outdir = Path(outdir)
    stores = {int(s): outdir / f"seed{int(s)}.zarr" for s in seeds}
    _train(cfg, seeds, stores, Path(metrics), Path(workdir), progress, on_epoch_end=on_epoch_end, writer=writer,
           threads=threads, sgd_csv=Path(sgd) if sgd is not None else None)


def train_run(
    cfg: dict[str, Any],
    seed: int,
    out_store: str | Path,
    metrics_csv: str | Path,
    workdir: str | Path,
    progress: bool = True,
    **options: Any,
) -> None:
    """Train one seed (a group of one) into ``out_store`` and ``metrics_csv``.

    ``options`` are :func:`train_group`'s keyword options (on_epoch_end, writer, threads) and
    ``sgd_csv`` (:func:`train_group`'s ``sgd``).
    """
    _train(cfg, [int(seed)], {int(seed): Path(out_store)}, Path(metrics_csv), Path(workdir), progress, **options)
