"""The estimation stage: activation (or compressed) stores -> the MI table, I(X;T) and I(T;Y) per
(seed, layer, epoch, split, estimator), in bits, and the geometry table of the layers.

Work is split into slab tasks: one layer of one store over a run of consecutive recorded epochs
(at most :data:`SLAB_BYTES` of activations, so nothing is loaded whole). A task reads its slab
with one Zarr read (no xarray), reuses its worker's open store (one open per worker and store:
:func:`_reader`), and runs every configured estimator on each (layer, epoch) block of the slab.
An estimator with a ``plane(x, y)`` method (binning) bins each layer once for both I(X;T) and
I(T;Y) and codes X and Y once per task and split. Tasks run on a Dask ``distributed`` cluster (a
local one, or an existing scheduler) or serially in-process; every task is deterministic, so the
table is identical either way and when Dask retries a task after a worker dies.

Splits (``analysis.split``): every estimator runs on the samples of each configured split,
``all`` (every sample of the store), ``train`` (``is_train``) or ``test`` (the others); X and Y
are that split's sample ids (or inputs) and labels. A split without samples is an error.

Binning range ``"run"`` (scheme (c)): an estimator entry with ``range: run`` bins each layer on
``(lo, hi)``, the smallest and largest finite activation of that layer over every recorded epoch
of the store (Chelombiev, I., Houghton, C. & O'Donnell, C. (2019). Adaptive estimators show
information compression in deep neural networks. ICLR 2019: the binning range of a layer is
fixed over the whole training run). :func:`make_tasks` resolves it once per (store, layer),
reading the layer slab by slab, and hands each task the resolved ``(lo, hi)``.

Tables: :data:`infoplane.tables.MI_COLUMNS` (``seed, layer, layer_index, epoch, split,
estimator, I_XT, I_TY, I_XT_se, I_TY_se, status, reason``; MI in bits) and
:data:`infoplane.tables.GEOMETRY_COLUMNS` (per (seed, layer, epoch, split): the activation range
and, with ``analysis.clustering``, the class clustering :func:`infoplane.geometry.class_clustering`).
"""

from __future__ import annotations

import logging
import sys
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from infoplane.config import estimator_label, estimator_params
from infoplane.estimators import get_estimator
from infoplane.estimators.base import EstimatorRefused, UnreliableEstimateWarning
from infoplane.geometry import class_clustering
from infoplane.store import ACT_PREFIX, StoreReader
from infoplane.tables import GEOMETRY_COLUMNS, MI_COLUMNS, SPLITS

log = logging.getLogger(__name__)

#: Most bytes of activations one task reads at once (one layer, consecutive epochs).
SLAB_BYTES = 16 * 2**20

Row = tuple  # one table row, values in MI_COLUMNS (or GEOMETRY_COLUMNS) order


@dataclass(frozen=True)
class SlabTask:
    """One unit of estimation work: every estimator on one layer at consecutive recorded epochs,
    on the samples of each of ``splits``.

    ``start`` is the index of the first of ``epochs`` on the store's epoch axis. The estimators'
    params hold no binning range ``"run"``: :func:`make_tasks` puts the resolved ``run_range`` of
    the layer there (``run_range`` is None when no estimator asked for it).
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
    splits: tuple[str, ...] = ("all",)
    clustering: bool = False
    run_range: tuple[float, float] | None = None
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


def _block_seed(seed: int, layer: str, epoch: int, split: str = "all") -> int:
    key = f"{seed}/{layer}/{epoch}" if split == "all" else f"{seed}/{layer}/{epoch}/{split}"
    return zlib.crc32(key.encode())


def split_mask(is_train: np.ndarray, split: str) -> np.ndarray | None:
    """The samples of ``split``: None for ``all`` (every sample), else a boolean mask (n,)
    (``train``: ``is_train``; ``test``: not ``is_train``)."""
    if split == "all":
        return None
    if split == "train":
        return np.asarray(is_train, dtype=bool)
    if split == "test":
        return ~np.asarray(is_train, dtype=bool)
    raise ValueError(f"analysis.split: {split!r} is not a split; choose one of {', '.join(SPLITS)}")


def check_splits(store: str | Path, splits: Sequence[str]) -> None:
    """Raise ValueError naming the split and the store when a split of ``analysis.split`` has
    no samples in ``store`` (e.g. ``train`` in a store recorded with ``record.samples: eval``)."""
    is_train = _reader(str(store)).variable("is_train")
    for split in splits:
        mask = split_mask(is_train, split)
        if mask is not None and not mask.any():
            n_train = int(np.count_nonzero(is_train))
            why = ("a store recorded with record.samples: eval holds only held-out samples" if split == "train"
                   else "dataset.train_fraction left no held-out sample")
            raise ValueError(
                f"analysis.split: split {split!r} has no samples in {store} ({len(is_train)} samples, "
                f"{n_train} of them train samples; {why}); remove {split!r} from analysis.split"
            )


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


def _block_rows(task: SlabTask, epoch: int, split: str, t: np.ndarray, ests: list[_BlockEstimator]) -> list[Row]:
    """MI-table rows of every estimator on one (layer, epoch) block ``t`` (n, units) of the
    samples of ``split``."""
    base = (task.seed, task.layer, task.layer_index, epoch, split)
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
                f"(seed {task.seed}, split {split}, {t.shape[1]} units): {exc}"
            ) from exc
        unreliable = [str(w.message) for w in caught if issubclass(w.category, UnreliableEstimateWarning)]
        if unreliable and status == "ok":
            status, reason = "unreliable", "; ".join(unreliable)
        if task.bootstrap > 0:
            s = _block_seed(task.seed, task.layer, epoch, split)
            se_xt = _bootstrap_se(est.est, est.x, t, task.bootstrap, s)
            se_ty = _bootstrap_se(est.est, t, est.y, task.bootstrap, s + 1)
        out.append((*base, est.label, float(i_xt), float(i_ty), float(se_xt), float(se_ty), status, reason))
    return out


def _non_finite_rows(task: SlabTask, reader: StoreReader, index: int, split: str, t: np.ndarray) -> list[Row]:
    """Rows of a block (of the samples of ``split``) with NaN/inf activations: the store's own
    status when it did not finish cleanly, else ``diverged`` (a chunk missing from a complete
    store raises instead)."""
    epoch = task.epochs[index]
    nan = float("nan")
    if task.store_status != "ok":
        status, reason = task.store_status, task.store_reason
    else:
        reader.check_epoch_chunk(task.layer, task.start + index)
        bad = int(t.size - np.count_nonzero(np.isfinite(t)))
        status, reason = "diverged", f"{bad} non-finite activations in layer {task.layer} at epoch {epoch}"
    return [(task.seed, task.layer, task.layer_index, epoch, split, lab, nan, nan, nan, nan, status, reason)
            for lab, _, _ in task.estimators]


def _geometry_row(task: SlabTask, epoch: int, split: str, t: np.ndarray, finite: bool,
                  labels: np.ndarray) -> Row:
    """The geometry-table row of one block ``t`` (n, units) of the samples of ``split``: its
    smallest and largest finite activation and, with ``task.clustering``, the class clustering
    (NaN for a block with non-finite values)."""
    nan = float("nan")
    values = t if finite else t[np.isfinite(t)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (nan, nan)
    clustering = class_clustering(t, labels) if task.clustering and finite else nan
    return (task.seed, task.layer, task.layer_index, epoch, split, lo, hi, clustering)


class SlabRows(NamedTuple):
    """The rows of one task: MI-table rows (:data:`MI_COLUMNS` order) and geometry-table rows
    (:data:`GEOMETRY_COLUMNS` order)."""

    mi: list[Row]
    geometry: list[Row]


@dataclass
class _SplitPart:
    """One split of a task: its sample mask (None = all), labels and estimators (each codes the
    split's X and Y once for all the task's blocks)."""

    split: str
    mask: np.ndarray | None
    y: np.ndarray
    ests: list[_BlockEstimator]


def _split_parts(task: SlabTask, reader: StoreReader) -> list[_SplitPart]:
    x, y = _x_and_y(reader, task.x_mode)
    is_train = reader.variable("is_train")
    parts = []
    for split in task.splits:
        mask = split_mask(is_train, split)
        xs, ys = (x, y) if mask is None else (x[mask], y[mask])
        if len(ys) == 0:
            raise ValueError(f"analysis.split: split {split!r} has no samples in {task.store}")
        ests = [_BlockEstimator(lab, name, dict(params), xs, ys) for lab, name, params in task.estimators]
        parts.append(_SplitPart(split, mask, ys, ests))
    return parts


def estimate_slab(task: SlabTask) -> SlabRows:
    """Run every estimator of ``task`` on each (layer, epoch) block of its slab, on the samples
    of each of its splits; return the MI-table and geometry-table rows."""
    reader = _reader(task.store)
    parts = _split_parts(task, reader)
    slab = reader.layer_epochs(task.layer, task.start, task.start + task.blocks)
    out = SlabRows([], [])
    for i, epoch in enumerate(task.epochs):
        block = slab[i].reshape(len(slab[i]), -1)
        for part in parts:
            t = block if part.mask is None else block[part.mask]
            finite = bool(np.isfinite(t).all())
            out.geometry.append(_geometry_row(task, epoch, part.split, t, finite, part.y))
            if finite:
                out.mi.extend(_block_rows(task, epoch, part.split, t, part.ests))
            else:
                out.mi.extend(_non_finite_rows(task, reader, i, part.split, t))
    return out


def store_seed(store: str | Path) -> int:
    """The seed a store was trained with (its ``seed`` attribute)."""
    attrs = _reader(str(store)).attrs
    if "seed" not in attrs:
        raise ValueError(f"store {store} has no seed attribute; it was not written by `infoplane train`")
    return int(attrs["seed"])


def layer_run_range(store: str | Path, layer: str, slab_bytes: int = SLAB_BYTES) -> tuple[float, float] | None:
    """The smallest and largest finite activation of ``layer`` over every recorded epoch of
    ``store`` (read slab by slab, at most ``slab_bytes`` at once); None when none is finite."""
    reader = _reader(str(store))
    arr = reader.array(ACT_PREFIX + layer)
    step = max(1, slab_bytes // max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize))
    lo, hi = np.inf, -np.inf
    for start in range(0, arr.shape[0], step):
        slab = reader.layer_epochs(layer, start, min(start + step, arr.shape[0]))
        finite = np.isfinite(slab)
        values = slab if finite.all() else slab[finite]
        if values.size:
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    return (lo, hi) if lo <= hi else None


def binning_range(lo: float, hi: float) -> tuple[float, float]:
    """The binning range ``(lo, hi)`` given to an estimator with range ``"run"``.

    ``lo < hi``: ``(lo, hi)`` itself. ``lo == hi`` (the layer holds one value ``v`` at every
    recorded epoch): no equal-width bins span it, so the range is ``(v - w, v + w)`` with
    ``w = max(1, |v|) / 2``; every activation falls in one bin and every estimate is 0 bits,
    as with range ``"auto"`` on a constant array.
    """
    if hi > lo:
        return float(lo), float(hi)
    w = 0.5 * max(1.0, abs(float(lo)))
    return float(lo) - w, float(lo) + w


def _uses_run_range(entry: Mapping[str, Any]) -> bool:
    return estimator_params(entry).get("range") == "run"


def _task_estimators(entries: Sequence[Mapping[str, Any]], run_range: tuple[float, float] | None
                     ) -> tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...]:
    """(label, name, sorted params) of each entry, ``range: run`` replaced by ``run_range``
    (kept as ``"run"`` when the layer has no finite activation: its blocks are never estimated)."""
    out = []
    for entry in entries:
        params = estimator_params(entry)
        if params.get("range") == "run" and run_range is not None:
            params["range"] = run_range
        out.append((estimator_label(entry), entry["name"], tuple(sorted(params.items()))))
    return tuple(out)


def _resolve_run_range(store: str | Path, layer: str, slab_bytes: int) -> tuple[float, float] | None:
    """:func:`layer_run_range` of the layer as :func:`binning_range` gives it to the estimators."""
    found = layer_run_range(store, layer, slab_bytes)
    if found is None:
        return None
    resolved = binning_range(*found)
    if found[0] == found[1]:
        log.warning("%s: layer %s holds the single value %g at every recorded epoch; binning range 'run' "
                    "bins it on (%g, %g): one bin, 0 bits", store, layer, found[0], *resolved)
    return resolved


def make_tasks(store: str | Path, cfg: dict[str, Any], seed: int | None = None,
               slab_bytes: int = SLAB_BYTES) -> list[SlabTask]:
    """The slab tasks of ``store`` for the config's estimators: every (layer, recorded epoch)
    block once, each layer's epochs cut into runs of at most ``slab_bytes`` of activations.

    ``seed`` defaults to the store's ``seed`` attribute. Each task covers every split of
    ``analysis.split`` (a split without samples in the store raises ValueError); a binning
    range ``"run"`` is resolved here, once per layer (:func:`layer_run_range`).
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
    splits = tuple(analysis.get("split", ["all"]))
    check_splits(store, splits)
    entries = cfg["estimators"]
    run = any(_uses_run_range(e) for e in entries)
    epochs = [int(e) for e in reader.variable("epoch")]
    common: dict[str, Any] = dict(x_mode=x_mode, bootstrap=int(analysis.get("bootstrap", 0)),
                  store_status=str(attrs.get("status", "ok")), store_reason=str(attrs.get("reason", "")),
                  splits=splits, clustering=bool(analysis.get("clustering", False)))
    tasks = []
    all_layers = list(attrs["layers"])
    for layer in layers:
        run_range = _resolve_run_range(store, layer, slab_bytes) if run else None
        ests = _task_estimators(entries, run_range)
        arr = reader.array(ACT_PREFIX + layer)
        per_epoch = max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize)
        step = max(1, slab_bytes // per_epoch)
        for start in range(0, len(epochs), step):
            tasks.append(SlabTask(str(store), int(seed), layer, all_layers.index(layer), start,
                                  tuple(epochs[start:start + step]), estimators=ests, run_range=run_range,
                                  **common))
    return tasks


class StageTables(NamedTuple):
    """The estimation stage's results: the MI table (:data:`MI_COLUMNS`, bits), the geometry
    table (:data:`GEOMETRY_COLUMNS`) and the binning ranges ``"run"`` resolved to, as
    ``{seed: {layer: [lo, hi]}}`` (str keys; empty when no estimator uses range ``"run"``)."""

    mi: pd.DataFrame
    geometry: pd.DataFrame
    run_ranges: dict[str, dict[str, list[float]]]


def run_ranges(tasks: Sequence[SlabTask]) -> dict[str, dict[str, list[float]]]:
    """The resolved binning ranges ``"run"`` of ``tasks``: ``{seed: {layer: [lo, hi]}}``."""
    out: dict[str, dict[str, list[float]]] = {}
    for task in tasks:
        if task.run_range is not None:
            out.setdefault(str(task.seed), {})[task.layer] = [float(v) for v in task.run_range]
    return out


def run_stage(tasks: Sequence[SlabTask], client=None, progress: bool = True,
              func: Callable[[SlabTask], SlabRows] | None = None) -> StageTables:
    """Run ``tasks`` (on ``client`` when given, else serially) and return the sorted MI and
    geometry tables.

    ``func`` replaces :func:`estimate_slab` (tests use it to inject faults). Progress counts
    (layer, epoch) blocks.
    """
    func = func or estimate_slab
    from tqdm.auto import tqdm

    mi: list[Row] = []
    geometry: list[Row] = []
    bar = tqdm(total=sum(t.blocks for t in tasks), desc="estimate", unit="block", disable=not progress,
               file=sys.stderr)
    if client is None:
        for task in tasks:
            rows = func(task)
            mi.extend(rows.mi)
            geometry.extend(rows.geometry)
            bar.update(task.blocks)
    else:
        from distributed import as_completed

        futures = client.map(func, list(tasks), pure=False, retries=2)
        blocks = {f.key: t.blocks for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures):
            rows = fut.result()
            mi.extend(rows.mi)
            geometry.extend(rows.geometry)
            bar.update(blocks[fut.key])
    bar.close()
    return StageTables(tidy_table(mi), tidy_geometry(geometry), run_ranges(tasks))


def run_tasks(tasks: Sequence[SlabTask], client=None, progress: bool = True,
              func: Callable[[SlabTask], SlabRows] | None = None) -> pd.DataFrame:
    """The sorted MI table of ``tasks``: :func:`run_stage` without the geometry table."""
    return run_stage(tasks, client, progress, func).mi


def _split_rank(column: pd.Series) -> pd.Series:
    """Sort key: the split column in :data:`SPLITS` order (others last), other columns as they are."""
    if column.name != "split":
        return column
    return column.map({s: i for i, s in enumerate(SPLITS)}).fillna(len(SPLITS))


def tidy_table(rows: list[Row] | pd.DataFrame) -> pd.DataFrame:
    """Order columns and rows of an MI table canonically (so equal results compare equal)."""
    columns = list(MI_COLUMNS)
    df = rows[columns] if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows, columns=columns)
    df = df.sort_values(["estimator", "seed", "layer_index", "epoch", "split"], kind="stable", key=_split_rank)
    df = df.reset_index(drop=True)
    df["reason"] = df["reason"].astype(object).fillna("").astype(str)
    return df


def tidy_geometry(rows: list[Row] | pd.DataFrame) -> pd.DataFrame:
    """Order columns and rows of a geometry table canonically (seed, layer, epoch, split)."""
    columns = list(GEOMETRY_COLUMNS)
    df = rows[columns] if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows, columns=columns)
    df = df.sort_values(["seed", "layer_index", "epoch", "split"], kind="stable", key=_split_rank)
    return df.reset_index(drop=True)


def check_stores(stores: Sequence[str | Path], cfg: dict[str, Any]) -> None:
    """Raise ValueError naming the store when one is incomplete, unreadable or was made by
    another config (chunks are checked as they are read)."""
    from infoplane.config import config_hash
    from infoplane.store import check_store

    expected = config_hash(cfg)
    for store in stores:
        check_store(store, expected)


def estimate_tables(stores: Sequence[str | Path], cfg: dict[str, Any], workers: int = 1,
                    scheduler: str | None = None, progress: bool = True) -> StageTables:
    """The MI table (:data:`MI_COLUMNS`, bits), the geometry table (:data:`GEOMETRY_COLUMNS`)
    and the resolved binning ranges ``"run"`` of every (layer, epoch, split) of the given stores.

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
        return run_stage(tasks, client, progress)


def estimate_stores(stores: Sequence[str | Path], cfg: dict[str, Any], workers: int = 1,
                    scheduler: str | None = None, progress: bool = True) -> pd.DataFrame:
    """The MI table (:data:`MI_COLUMNS`, bits) of every (layer, epoch, split) of the given
    stores: :func:`estimate_tables` without the geometry table (same parameters)."""
    return estimate_tables(stores, cfg, workers, scheduler, progress).mi


def collect_tables(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate MI tables (one per seed or per group of seeds) into one tidy table."""
    frames = [pd.read_csv(p, keep_default_na=True) for p in paths]
    for p, f in zip(paths, frames, strict=True):
        missing = [c for c in MI_COLUMNS if c not in f.columns]
        if missing:
            raise ValueError(f"{p}: not an MI table; missing column {missing[0]!r}")
    df = pd.concat(frames, ignore_index=True)
    df["layer"] = df["layer"].astype(str)
    df["split"] = df["split"].astype(str)
    return tidy_table(df)


def to_dataset(df: pd.DataFrame, attrs: dict[str, Any] | None = None):
    """The MI table as an xarray Dataset with dims (estimator, seed, layer, epoch, split); MI in
    bits (splits in :data:`SPLITS` order)."""
    import xarray as xr

    indexed = df.set_index(["estimator", "seed", "layer", "epoch", "split"])
    ds = xr.Dataset.from_dataframe(indexed[["I_XT", "I_TY", "I_XT_se", "I_TY_se"]])
    order = df.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    present = list(dict.fromkeys(df["split"].astype(str)))
    ds = ds.reindex(layer=order, split=[s for s in SPLITS if s in present] + [s for s in present if s not in SPLITS])
    for dim in ("layer", "estimator", "split"):
        ds[dim] = ds[dim].astype(object)
    for var in ("I_XT", "I_TY", "I_XT_se", "I_TY_se"):
        ds[var].attrs["units"] = "bits"
    status = df.groupby("seed")["status"].agg(lambda s: "ok" if (s == "ok").all() else s[s != "ok"].iloc[0])
    ds["seed_status"] = ("seed", status.reindex(ds["seed"].values).astype(object).values)
    ds.attrs.update(attrs or {})
    return ds
