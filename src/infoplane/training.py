"""Training loop: recording schedule, resumable checkpoints, activation store and metrics.

One call of :func:`train_run` trains one network (one seed) of a study and leaves

* ``out_store`` - the activation store (:mod:`infoplane.store`), moved there atomically at the end;
* ``metrics_csv`` - ``seed, epoch, train_loss, train_acc, eval_loss, eval_acc`` for every epoch
  (epoch 0 = the initialisation).

Randomness (Shwartz-Ziv & Tishby 2017 set-up, Butakov et al. 2024 noise) comes only from
explicit generators derived from ``seed``: ``init`` (weights), ``shuffle`` (batch order) and
``noise`` (the stochastic layers during training); the noise in evaluation/recording forward
passes uses a generator derived from (seed, epoch), so recording never disturbs training and a
resumed run is bit-identical to an uninterrupted one. The train/eval split depends only on
``dataset.split_seed``.

Files in ``workdir``: ``checkpoint.pt`` (model, optimiser, generator states, epoch, config hash,
metrics so far; written to a temporary file and ``os.replace``-d) and ``activations.partial.zarr``.
A rerun with the same config hash and seed resumes from the checkpoint; anything else starts over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from infoplane import store as act_store
from infoplane.datasets import Dataset, load_dataset, train_eval_split
from infoplane.models import LayeredNet, build_model

#: Columns of the per-seed metrics CSV.
METRIC_COLUMNS: tuple[str, ...] = ("seed", "epoch", "train_loss", "train_acc", "eval_loss", "eval_acc")
CHECKPOINT = "checkpoint.pt"
PARTIAL_STORE = "activations.partial.zarr"
#: Test hook: raise after this epoch's checkpoint (simulates a killed job).
FAIL_AT_EPOCH_ENV = "INFOPLANE_FAIL_AT_EPOCH"
_EVAL_BATCH = 4096
log = logging.getLogger(__name__)
_STREAMS = {"init": 0, "shuffle": 1, "noise": 2, "eval_noise": 3, "record_noise": 4}

__all__ = ["METRIC_COLUMNS", "TrainingInterrupted", "record_epochs", "train_run"]


class TrainingInterrupted(RuntimeError):
    """Raised by the ``INFOPLANE_FAIL_AT_EPOCH`` test hook."""


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
        raise ValueError(f"record_epochs: no epochs to record (epochs={epochs}, num={num}, spacing={spacing}, include_init=False)")
    return np.array(sorted(out), dtype=np.int64)


# --------------------------------------------------------------------------------------------
# helpers


def _derived_seed(seed: int, *parts: int) -> int:
    """A 63-bit seed derived from (seed, *parts) by numpy's SeedSequence."""
    return int(np.random.SeedSequence([int(seed), *map(int, parts)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _generator(seed: int, stream: str, epoch: int | None = None) -> torch.Generator:
    parts = [_STREAMS[stream]] + ([epoch] if epoch is not None else [])
    return torch.Generator().manual_seed(_derived_seed(seed, *parts))


@contextlib.contextmanager
def _deterministic_torch(threads: int) -> Iterator[None]:
    """Deterministic algorithms and a fixed number of intra-op threads; restored afterwards."""
    old_det = torch.are_deterministic_algorithms_enabled()
    old_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def _per_sample_loss(model: LayeredNet, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if model.output_kind == "log_probs":
        return F.nll_loss(out, y, reduction=reduction)
    return F.cross_entropy(out, y, reduction=reduction)


def _evaluate(
    model: LayeredNet,
    x: torch.Tensor,
    y: torch.Tensor,
    idx_train: torch.Tensor,
    idx_eval: torch.Tensor,
    generator: torch.Generator | None,
) -> tuple[float, float, float, float]:
    """(train_loss, train_acc, eval_loss, eval_acc) on the two splits; NaN for an empty split."""
    with torch.no_grad():
        outs = [model(x[s : s + _EVAL_BATCH], generator) for s in range(0, x.shape[0], _EVAL_BATCH)]
        out = outs[0] if len(outs) == 1 else torch.cat(outs)
        loss = _per_sample_loss(model, out, y, reduction="none").double()
        correct = (out.argmax(dim=1) == y).double()

    def summary(idx: torch.Tensor) -> tuple[float, float]:
        if idx.numel() == 0:
            return math.nan, math.nan
        return float(loss[idx].mean()), float(correct[idx].mean())

    return (*summary(idx_train), *summary(idx_eval))


def _make_optimizer(model: torch.nn.Module, tcfg: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam or SGD; the fused CPU kernel when this torch has it (about 1.5x faster per step for
    the tiny IDNNs nets, where per-op overhead dominates), else the foreach one."""
    name = tcfg.get("optimizer", "adam")
    lr = float(tcfg["lr"])
    if name not in ("adam", "sgd"):
        raise ValueError(f"training.optimizer={name!r}; choose adam or sgd")
    cls = torch.optim.Adam if name == "adam" else torch.optim.SGD
    try:
        return cls(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - older torch without CPU fused kernels
        return cls(model.parameters(), lr=lr, foreach=True)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, chash: str, seed: int) -> dict[str, Any] | None:
    """The checkpoint if it belongs to this config and seed, else None."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # damaged checkpoint (e.g. killed mid-write before os.replace existed)
        return None
    if state.get("config_hash") != chash or state.get("seed") != int(seed):
        return None
    return state


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


def _write_metrics_csv(path: Path, rows: list[list[float]], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(",".join(METRIC_COLUMNS) + "\n")
        for epoch, *vals in rows:
            fh.write(",".join([str(int(seed)), str(int(epoch))] + [repr(float(v)) for v in vals]) + "\n")
    os.replace(tmp, path)


def _move_store(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    try:
        os.replace(src, dst)
    except OSError as exc:  # workdir on another filesystem: copy beside dst, then replace
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        os.replace(tmp, dst)
        shutil.rmtree(src)


def _store_attrs(cfg: dict[str, Any], seed: int, chash: str, data: Dataset, samples: str) -> dict[str, Any]:
    from infoplane.provenance import provenance_attrs

    attrs = provenance_attrs(cfg, seed)
    attrs.update(
        config_hash=chash,
        seed=int(seed),
        study=str(cfg.get("study", "")),
        dataset=data.name,
        discrete_inputs=bool(data.discrete_inputs),
        n_classes=int(data.n_classes),
        record_samples=samples,
        train_fraction=float(cfg["dataset"]["train_fraction"]),
        split_seed=int(cfg["dataset"]["split_seed"]),
        config=json.dumps({k: cfg.get(k) for k in ("dataset", "model", "training", "record")}, sort_keys=True, default=str),
    )
    return attrs


# --------------------------------------------------------------------------------------------


def train_run(
    cfg: dict[str, Any],
    seed: int,
    out_store: str | Path,
    metrics_csv: str | Path,
    workdir: str | Path,
    progress: bool = True,
) -> None:
    """Train one network, record its activations and write the store and metrics.

    Parameters
    ----------
    cfg : dict
        The validated config with every default filled (sections dataset, model, training,
        record; see the schema).
    seed : int
        Network seed: initial weights, batch order and noise.
    out_store : path
        Final activation store (Zarr directory); replaced atomically at the end.
    metrics_csv : path
        Per-epoch losses and accuracies (written after the store).
    workdir : path
        Checkpoint and partial store; a rerun resumes from here.
    progress : bool
        Show a tqdm bar on stderr.

    Notes
    -----
    A non-finite loss at epoch N stops training without raising: the store then holds the
    epochs recorded so far (later ones NaN) with attrs ``status="diverged"`` and
    ``reason="non-finite loss at epoch N"``, and the metrics CSV ends at epoch N.
    """
    from infoplane.config import config_hash

    out_store, metrics_csv, workdir = Path(out_store), Path(metrics_csv), Path(workdir)
    seed = int(seed)
    chash = config_hash(cfg)
    dcfg, tcfg, rcfg = cfg["dataset"], cfg["training"], cfg.get("record", {})
    samples = rcfg.get("samples", rcfg.get("on", "all"))
    if samples not in ("all", "eval"):
        raise ValueError(f"record.samples={samples!r}; choose all or eval")
    epochs = int(tcfg["epochs"])
    batch_size = int(tcfg["batch_size"])
    ckpt_every = int(tcfg.get("checkpoint_every", 100))
    fail_at = int(os.environ.get(FAIL_AT_EPOCH_ENV, "-1") or -1)

    data = load_dataset(dcfg["name"], dcfg.get("root"), dcfg.get("size"), dcfg.get("split", "test"))
    idx_train_np, idx_eval_np = train_eval_split(data.n, float(dcfg["train_fraction"]), int(dcfg["split_seed"]))
    if samples == "eval" and len(idx_eval_np) == 0:
        raise ValueError("record.samples='eval' but the evaluation split is empty (dataset.train_fraction=1)")
    rec = record_epochs(epochs, int(rcfg.get("num_epochs", 30)), rcfg.get("spacing", "log"), bool(rcfg.get("include_init", True)))
    rec_index = {int(e): i for i, e in enumerate(rec)}
    rec_ids = np.arange(data.n, dtype=np.int64) if samples == "all" else idx_eval_np
    is_train = np.zeros(data.n, dtype=bool)
    is_train[idx_train_np] = True

    with _deterministic_torch(int(tcfg.get("threads", 1))):
        x_all = torch.from_numpy(data.x)
        y_all = torch.from_numpy(data.y)
        idx_train, idx_eval = torch.from_numpy(idx_train_np), torch.from_numpy(idx_eval_np)
        x_train, y_train = x_all[idx_train].contiguous(), y_all[idx_train].contiguous()
        x_rec = x_all[torch.from_numpy(rec_ids)].contiguous()
        n_train = x_train.shape[0]

        model = build_model(cfg["model"], data.input_shape, data.n_classes, generator=_generator(seed, "init"))
        has_noise = float(cfg["model"].get("noise", 0.0)) > 0
        optimizer = _make_optimizer(model, tcfg)
        g_shuffle = _generator(seed, "shuffle")
        g_noise = _generator(seed, "noise") if has_noise else None

        workdir.mkdir(parents=True, exist_ok=True)
        ckpt_path, partial = workdir / CHECKPOINT, workdir / PARTIAL_STORE
        state = _load_checkpoint(ckpt_path, chash, seed) if _partial_matches(partial, chash, seed) else None
        metrics: list[list[float]]
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            g_shuffle.set_state(state["rng_shuffle"])
            if g_noise is not None:
                g_noise.set_state(state["rng_noise"])
            start = int(state["epoch"])
            metrics = [list(r) for r in state["metrics"]]
            log.info("seed %d: resuming from the checkpoint of epoch %d in %s", seed, start, workdir)
        else:
            if ckpt_path.exists():
                log.info("seed %d: checkpoint in %s is from another config or seed (or damaged); starting fresh", seed, workdir)
            for stale in (ckpt_path, ckpt_path.with_name(CHECKPOINT + ".tmp")):
                stale.unlink(missing_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
            act_store.create_store(
                partial,
                layers=model.layer_sizes(),
                epochs=rec,
                sample_id=rec_ids,
                label=data.y[rec_ids],
                is_train=is_train[rec_ids],
                inputs=data.x[rec_ids],
                attrs=_store_attrs(cfg, seed, chash, data, samples),
            )
            start = 0
            metrics = []

        def eval_gen(stream: str, epoch: int) -> torch.Generator | None:
            return _generator(seed, stream, epoch) if has_noise else None

        def checkpoint(epoch: int) -> None:
            _save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng_shuffle": g_shuffle.get_state(),
                    "rng_noise": g_noise.get_state() if g_noise is not None else torch.zeros(0, dtype=torch.uint8),
                    "epoch": epoch,
                    "config_hash": chash,
                    "seed": seed,
                    "metrics": metrics,
                },
            )

        def end_of_epoch(epoch: int) -> bool:
            """Evaluate, record, checkpoint; False when the loss is not finite."""
            vals = _evaluate(model, x_all, y_all, idx_train, idx_eval, eval_gen("eval_noise", epoch))
            metrics.append([epoch, *vals])
            finite = math.isfinite(vals[0]) and (math.isfinite(vals[2]) or len(idx_eval_np) == 0)
            if not finite:
                return False
            if epoch in rec_index:
                acts = model.forward_layers(x_rec, generator=eval_gen("record_noise", epoch))
                act_store.write_epoch(
                    partial,
                    rec_index[epoch],
                    {k: v.numpy() for k, v in acts.items()},
                    dict(zip(act_store.EPOCH_VARS, vals)),
                )
            if epoch % ckpt_every == 0 or epoch in rec_index:
                checkpoint(epoch)
            if epoch == fail_at:
                raise TrainingInterrupted(f"{FAIL_AT_EPOCH_ENV}={fail_at}: simulated interruption after epoch {epoch}")
            return True

        status, reason = "ok", ""
        ok = True
        if start == 0 and not metrics:
            ok = end_of_epoch(0)
            if not ok:
                status, reason = "diverged", "non-finite loss at epoch 0"

        from tqdm.auto import tqdm

        bar = tqdm(
            total=epochs,
            initial=start,
            disable=not progress,
            file=sys.stderr,
            desc=f"{cfg.get('study', '')} seed {seed}",
            unit="epoch",
            mininterval=1.0,
        )
        loss_fn = F.nll_loss if model.output_kind == "log_probs" else F.cross_entropy
        params = [p for group in optimizer.param_groups for p in group["params"]]
        post_every = max(1, epochs // 200)
        try:
            for epoch in range(start + 1, epochs + 1) if ok else ():
                model.train()
                perm = torch.randperm(n_train, generator=g_shuffle)
                for b in range(0, n_train, batch_size):
                    sel = perm[b : b + batch_size]
                    loss = loss_fn(model(x_train[sel], g_noise), y_train[sel])
                    for p in params:  # = optimizer.zero_grad(set_to_none=True), without its overhead
                        p.grad = None
                    loss.backward()
                    optimizer.step()
                model.eval()
                if not end_of_epoch(epoch):
                    status, reason = "diverged", f"non-finite loss at epoch {epoch}"
                    break
                bar.update(1)
                if epoch % post_every == 0:
                    bar.set_postfix(loss=f"{metrics[-1][1]:.4f}", acc=f"{metrics[-1][2]:.3f}", refresh=False)
        finally:
            bar.close()

    act_store.finalize_store(partial, status=status, reason=reason, epochs_trained=int(metrics[-1][0]))
    _move_store(partial, out_store)
    _write_metrics_csv(metrics_csv, metrics, seed)
    ckpt_path.unlink(missing_ok=True)
