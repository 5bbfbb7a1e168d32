"""The estimation stage: activation (or compressed) stores -> the MI table, I(X;T) and I(T;Y) per
(seed, layer, epoch, estimator), in bits.

Work is split into slab tasks: one layer of one store over a run of consecutive recorded epochs
(at most :data:`SLAB_BYTES` of activations, so nothing is loaded whole). A task reads its slab
with one Zarr read (no xarray), reuses its worker's open store (one open per worker and store:
:func:`_reader`), and runs every configured estimator on each (layer, epoch) block of the slab.
An estimator with a ``plane(x, y)`` method (binning) bins each layer once for both I(X;T) and
I(T;Y) and codes X and Y once per task. Tasks run on a Dask ``distributed`` cluster (a local one,
or an existing scheduler) or serially in-process; every task is deterministic, so the table is
identical either way and when Dask retries a task after a worker dies.

Table columns: :data:`infoplane.tables.MI_COLUMNS` (``seed, layer, layer_index, epoch,
estimator, I_XT, I_TY, I_XT_se, I_TY_se, status, reason``; MI in bits).
"""

from __future__ import annotations

import sys
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infoplane.config import estimator_label, estimator_params
from infoplane.estimators import get_estimator
from infoplane.estimators.base import EstimatorRefused, UnreliableEstimateWarning
from infoplane.store import ACT_PREFIX, StoreReader
from infoplane.tables import MI_COLUMNS

#: Most bytes of activations one task reads at once (one layer, consecutive epochs).
SLAB_BYTES = 16 * 2**20

Row = tuple  # one MI-table row, values in MI_COLUMNS order


@dataclass(frozen=True)
class SlabTask:
    """One unit of estimation work: every estimator on one layer at consecutive recorded epochs.

    ``start`` is the index of the first of ``epochs`` on the store's epoch axis.
    """

    store: str
    seed: int
    layer: str
    layer_index: int
    start: int
    epochs: tuple[int, ...]
    x_mode: str  # "ids" or "inputs"
    estimators: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...]  # (label, name, params)
    bootstrap: int = 0
    store_status: str = "ok"
    store_reason: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def blocks(self) -> int:
        """(layer, epoch) blocks in this task."""
        return len(self.epochs)


def _reader(path: str) -> StoreReader:
    """The store at ``path``, opened once per process while its metadata is unchanged.

    Opening a store costs milliseconds, more than estimating one block; each Dask worker keeps
    its readers (keyed on the path and the mtime of ``zarr.json``, so a rewritten store is
    reopened).
    """
    meta = Path(path) / "zarr.json"
    stamp = meta.stat().st_mtime_ns if meta.exists() else 0
    return _reader_cached(str(path), stamp)


@lru_cache(maxsize=64)
def _reader_cached(path: str, stamp: int) -> StoreReader:
    return StoreReader(path)


def resolve_x_mode(mode: str, discrete_inputs: bool) -> str:
    """'auto' -> 'ids' when every input is a unique discrete symbol (12-bit data), else 'inputs'."""
    if mode == "auto":
        return "ids" if discrete_inputs else "inputs"
    return mode


def _bootstrap_se(est, a: np.ndarray, b: np.ndarray, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    n = len(a)
    vals = []
    for _ in range(reps):
        idx = rng.integers(0, n, size=n)
        vals.append(est.estimate(a[idx], b[idx]))
    return float(np.std(vals, ddof=1)) if reps > 1 else float("nan")


def _block_seed(seed: int, layer: str, epoch: int) -> int:
    return zlib.crc32(f"{seed}/{layer}/{epoch}".encode())


def _x_and_y(reader: StoreReader, x_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """X (sample ids (n,) int64, or flattened inputs (n, d)) and the labels Y (n,) int64."""
    y = reader.variable("label").astype(np.int64, copy=False)
    if x_mode == "ids":
        return reader.variable("sample_id").astype(np.int64, copy=False), y
    x = reader.variable("inputs")
    return x.reshape(len(x), -1), y


class _BlockEstimator:
    """One configured estimator applied to the blocks of a task: I(X;T), I(T;Y) and their
    errors in bits. Estimators with ``plane(x, y)`` (binning) get X and Y coded once and each
    layer binned once for both quantities; others get two ``estimate_with_error`` calls."""

    def __init__(self, label: str, name: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray) -> None:
        self.label = label
        self.est = get_estimator(name, **params)
        self.x, self.y = x, y
        self._plane: Callable | None = None

    def __call__(self, t: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
        if hasattr(self.est, "plane"):
            if self._plane is None:
                self._plane = self.est.plane(self.x, self.y)
            return self._plane(t)
        return self.est.estimate_with_error(self.x, t), self.est.estimate_with_error(t, self.y)


def _block_rows(task: SlabTask, epoch: int, t: np.ndarray, ests: list[_BlockEstimator]) -> list[Row]:
    """MI-table rows of every estimator on one (layer, epoch) block ``t`` (n, units)."""
    base = (task.seed, task.layer, task.layer_index, epoch)
    out = []
    for est in ests:
        status, reason = task.store_status, task.store_reason
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnreliableEstimateWarning)
                (i_xt, se_xt), (i_ty, se_ty) = est(t)
        except EstimatorRefused as exc:  # the estimator's policy: no number, the reason in the table
            nan = float("nan")
            out.append((*base, est.label, nan, nan, nan, nan, "refused", str(exc)))
            continue
        except ValueError as exc:  # name what was being estimated, not only why it failed
            raise ValueError(
                f"estimator {est.label!r} on layer {task.layer!r} at epoch {epoch} "
                f"(seed {task.seed}, {t.shape[1]} units): {exc}"
            ) from exc
        unreliable = [str(w.message) for w in caught if issubclass(w.category, UnreliableEstimateWarning)]
        if unreliable and status == "ok":
            status, reason = "unreliable", "; ".join(unreliable)
        if task.bootstrap > 0:
            s = _block_seed(task.seed, task.layer, epoch)
            se_xt = _bootstrap_se(est.est, est.x, t, task.bootstrap, s)
            se_ty = _bootstrap_se(est.est, t, est.y, task.bootstrap, s + 1)
        out.append((*base, est.label, float(i_xt), float(i_ty), float(se_xt), float(se_ty), status, reason))
    return out


def _non_finite_rows(task: SlabTask, reader: StoreReader, index: int, t: np.ndarray) -> list[Row]:
    """Rows of a block with NaN/inf activations: the store's own status when it did not finish
    cleanly, else ``diverged`` (a chunk missing from a complete store raises instead)."""
    epoch = task.epochs[index]
    nan = float("nan")
    if task.store_status != "ok":
        status, reason = task.store_status, task.store_reason
    else:
        reader.check_epoch_chunk(task.layer, task.start + index)
        bad = int(t.size - np.count_nonzero(np.isfinite(t)))
        status, reason = "diverged", f"{bad} non-finite activations in layer {task.layer} at epoch {epoch}"
    return [(task.seed, task.layer, task.layer_index, epoch, lab, nan, nan, nan, nan, status, reason)
            for lab, _, _ in task.estimators]


def estimate_slab(task: SlabTask) -> list[Row]:
    """Run every estimator of ``task`` on each (layer, epoch) block of its slab; return
    MI-table rows (tuples in :data:`MI_COLUMNS` order)."""
    reader = _reader(task.store)
    x, y = _x_and_y(reader, task.x_mode)
    ests = [_BlockEstimator(lab, name, dict(params), x, y) for lab, name, params in task.estimators]
    slab = reader.layer_epochs(task.layer, task.start, task.start + task.blocks)
    rows: list[Row] = []
    for i, epoch in enumerate(task.epochs):
        t = slab[i].reshape(len(slab[i]), -1)
        if not np.isfinite(t).all():
            rows.extend(_non_finite_rows(task, reader, i, t))
        else:
            rows.extend(_block_rows(task, epoch, t, ests))
    return rows


def store_seed(store: str | Path) -> int:
    """The seed a store was trained with (its ``seed`` attribute)."""
    attrs = _reader(str(store)).attrs
    if "seed" not in attrs:
        raise ValueError(f"store {store} has no seed attribute; it was not written by `infoplane train`")
    return int(attrs["seed"])


def make_tasks(store: str | Path, cfg: dict[str, Any], seed: int | None = None,
               slab_bytes: int = SLAB_BYTES) -> list[SlabTask]:
    """The slab tasks of ``store`` for the config's estimators: every (layer, recorded epoch)
    block once, each layer's epochs cut into runs of at most ``slab_bytes`` of activations.

    ``seed`` defaults to the store's ``seed`` attribute.
    """
    reader = _reader(str(store))
    attrs = reader.attrs
    seed = store_seed(store) if seed is None else seed
    layers = list(attrs["layers"])
    analysis = cfg.get("analysis", {})
    wanted = analysis.get("layers")
    if wanted:
        missing = [w for w in wanted if w not in layers]
        if missing:
            raise ValueError(
                f"analysis.layers: {missing[0]!r} is not a layer of {store}; its layers are {', '.join(layers)}"
            )
        layers = [lay for lay in layers if lay in wanted]
    x_mode = resolve_x_mode(analysis.get("x", "auto"), bool(attrs.get("discrete_inputs", False)))
    if x_mode == "inputs" and "inputs" not in reader.group:
        raise ValueError(f"{store}: analysis.x is 'inputs' but the store has no `inputs` variable")
    ests = tuple(
        (estimator_label(e), e["name"], tuple(sorted(estimator_params(e).items())))
        for e in cfg["estimators"]
    )
    epochs = [int(e) for e in reader.variable("epoch")]
    common: dict[str, Any] = dict(x_mode=x_mode, estimators=ests, bootstrap=int(analysis.get("bootstrap", 0)),
                  store_status=str(attrs.get("status", "ok")), store_reason=str(attrs.get("reason", "")))
    tasks = []
    all_layers = list(attrs["layers"])
    for layer in layers:
        arr = reader.array(ACT_PREFIX + layer)
        per_epoch = max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize)
        step = max(1, slab_bytes // per_epoch)
        for start in range(0, len(epochs), step):
            tasks.append(SlabTask(str(store), int(seed), layer, all_layers.index(layer), start,
                                  tuple(epochs[start:start + step]), **common))
    return tasks


def run_tasks(tasks: Sequence[SlabTask], client=None, progress: bool = True,
              func: Callable[[SlabTask], list[Row]] | None = None) -> pd.DataFrame:
    """Run ``tasks`` (on ``client`` when given, else serially) and return the sorted MI table.

    ``func`` replaces :func:`estimate_slab` (tests use it to inject faults). Progress counts
    (layer, epoch) blocks.
    """
    func = func or estimate_slab
    from tqdm.auto import tqdm

    rows: list[Row] = []
    bar = tqdm(total=sum(t.blocks for t in tasks), desc="estimate", unit="block", disable=not progress,
               file=sys.stderr)
    if client is None:
        for task in tasks:
            rows.extend(func(task))
            bar.update(task.blocks)
    else:
        from distributed import as_completed

        futures = client.map(func, list(tasks), pure=False, retries=2)
        blocks = {f.key: t.blocks for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures):
            rows.extend(fut.result())
            bar.update(blocks[fut.key])
    bar.close()
    return tidy_table(rows)


def tidy_table(rows: list[Row] | pd.DataFrame) -> pd.DataFrame:
    """Order columns and rows of an MI table canonically (so equal results compare equal)."""
    columns = list(MI_COLUMNS)
    df = rows[columns] if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows, columns=columns)
    df = df.sort_values(["estimator", "seed", "layer_index", "epoch"], kind="stable").reset_index(drop=True)
    df["reason"] = df["reason"].astype(object).fillna("").astype(str)
    return df


def check_stores(stores: Sequence[str | Path], cfg: dict[str, Any]) -> None:
    """Raise ValueError naming the store when one is incomplete, unreadable or was made by
    another config (chunks are checked as they are read)."""
    from infoplane.config import config_hash
    from infoplane.store import check_store

    expected = config_hash(cfg)
    for store in stores:
        check_store(store, expected)


def estimate_stores(stores: Sequence[str | Path], cfg: dict[str, Any], workers: int = 1,
                    scheduler: str | None = None, progress: bool = True) -> pd.DataFrame:
    """The MI table (:data:`MI_COLUMNS`, bits) of every (layer, epoch) of the given stores.

    Parameters
    ----------
    stores : paths
        Activation or compressed stores, each checked to be complete and made by ``cfg``; each
        store's seed is its ``seed`` attribute.
    cfg : dict
        The validated config (uses ``estimators`` and ``analysis``).
    workers : int
        Local Dask worker processes; 1 runs serially in this process. For binning, serial is
        the cheapest (measured, 25 seeds x 280 epochs x 7 layers: 13-17 CPU s serially, about
        37 with 2 workers, whose start-up and scheduling cost more than the estimates): run
        several serial jobs rather than one with workers; Dask pays off for the k-NN and
        neural estimators.
    scheduler : str, optional
        Address of a running Dask scheduler (cluster use); overrides ``workers``.
    """
    import dask

    from infoplane.parallel import dask_client

    check_stores(stores, cfg)
    tasks = [task for store in stores for task in make_tasks(store, cfg)]
    # Tasks take milliseconds: the workers' sampling profiler would cost more than it tells.
    with dask.config.set({"distributed.worker.profile.enabled": False}), dask_client(workers, scheduler) as client:
        return run_tasks(tasks, client, progress)


def collect_tables(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate MI tables (one per seed or per group of seeds) into one tidy table."""
    frames = [pd.read_csv(p, keep_default_na=True) for p in paths]
    for p, f in zip(paths, frames, strict=True):
        missing = [c for c in MI_COLUMNS if c not in f.columns]
        if missing:
            raise ValueError(f"{p}: not an MI table; missing column {missing[0]!r}")
    df = pd.concat(frames, ignore_index=True)
    df["layer"] = df["layer"].astype(str)
    return tidy_table(df)


def to_dataset(df: pd.DataFrame, attrs: dict[str, Any] | None = None):
    """The MI table as an xarray Dataset with dims (estimator, seed, layer, epoch); MI in bits."""
    import xarray as xr

    indexed = df.set_index(["estimator", "seed", "layer", "epoch"])
    ds = xr.Dataset.from_dataframe(indexed[["I_XT", "I_TY", "I_XT_se", "I_TY_se"]])
    order = df.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    ds = ds.reindex(layer=order)
    ds["layer"] = ds["layer"].astype(object)
    ds["estimator"] = ds["estimator"].astype(object)
    for var in ("I_XT", "I_TY", "I_XT_se", "I_TY_se"):
        ds[var].attrs["units"] = "bits"
    status = df.groupby("seed")["status"].agg(lambda s: "ok" if (s == "ok").all() else s[s != "ok"].iloc[0])
    ds["seed_status"] = ("seed", status.reindex(ds["seed"].values).astype(object).values)
    ds.attrs.update(attrs or {})
    return ds
