"""Turn activation stores into the MI table: I(X;T) and I(T;Y) per (seed, layer, epoch, estimator).

The work is split into one task per (layer, epoch) block; each task opens the store itself,
reads one chunk (a layer at one epoch), runs every configured estimator on it and returns table
rows. Tasks run on a Dask ``distributed`` cluster (a local one by default, or an existing
scheduler on a cluster) or serially in-process; every task is deterministic, so the table is
identical either way and when Dask retries a task after a worker dies.

Table columns (the MI-table contract, bits): ``seed, layer, layer_index, epoch, estimator,
I_XT, I_TY, I_XT_se, I_TY_se, status, reason``.
"""

from __future__ import annotations

import sys
import zlib
from functools import lru_cache
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infoplane.config import estimator_label, estimator_params
from infoplane.estimators import get_estimator

MI_COLUMNS: list[str] = [
    "seed", "layer", "layer_index", "epoch", "estimator",
    "I_XT", "I_TY", "I_XT_se", "I_TY_se", "status", "reason",
]


@dataclass(frozen=True)
class BlockTask:
    """One unit of estimation work: every estimator on one layer at one recorded epoch."""

    store: str
    seed: int
    layer: str
    layer_index: int
    epoch_index: int
    epoch: int
    x_mode: str  # "ids" or "inputs"
    estimators: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...]  # (label, name, params)
    bootstrap: int = 0
    store_status: str = "ok"
    store_reason: str = ""
    extra: dict = field(default_factory=dict, compare=False)


def _open(path: str):
    """Open a store, reusing the handle within a process while its metadata is unchanged.

    Opening a Zarr store costs tens of milliseconds, more than estimating one block; each Dask
    worker therefore keeps its handle (keyed on the path and the mtime of ``zarr.json``, so a
    rewritten store is reopened).
    """
    from pathlib import Path

    meta = Path(path) / "zarr.json"
    stamp = meta.stat().st_mtime_ns if meta.exists() else 0
    return _open_cached(str(path), stamp)


@lru_cache(maxsize=8)
def _open_cached(path: str, stamp: int):
    import warnings

    import xarray as xr

    with warnings.catch_warnings():
        # Snakemake leaves a .snakemake_timestamp file inside directory outputs.
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        return xr.open_zarr(path, consolidated=False)


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


def _task_seed(task: BlockTask) -> int:
    key = f"{task.seed}/{task.layer}/{task.epoch}".encode()
    return zlib.crc32(key)


def estimate_block(task: BlockTask) -> list[dict[str, Any]]:
    """Run every estimator of ``task`` on its (layer, epoch) block; return MI-table rows."""
    base = {"seed": task.seed, "layer": task.layer, "layer_index": task.layer_index, "epoch": task.epoch}
    labels = [lab for lab, _, _ in task.estimators]

    def rows_with(status: str, reason: str) -> list[dict[str, Any]]:
        nan = float("nan")
        return [
            {**base, "estimator": lab, "I_XT": nan, "I_TY": nan, "I_XT_se": nan, "I_TY_se": nan,
             "status": status, "reason": reason}
            for lab in labels
        ]

    ds = _open(task.store)
    t = np.asarray(ds[f"act_{task.layer}"].isel(epoch=task.epoch_index).values)
    if not np.all(np.isfinite(t)):
        if task.store_status != "ok":
            return rows_with(task.store_status, task.store_reason)
        bad = int(t.size - np.count_nonzero(np.isfinite(t)))
        return rows_with("diverged", f"{bad} non-finite activations in layer {task.layer} at epoch {task.epoch}")
    y = np.asarray(ds["label"].values).astype(np.int64)
    if task.x_mode == "ids":
        x = np.asarray(ds["sample_id"].values).astype(np.int64)
    else:
        x = np.asarray(ds["inputs"].values)
        x = x.reshape(len(x), -1)
    t = t.reshape(len(t), -1)
    out = []
    for label, name, params in task.estimators:
        est = get_estimator(name, **dict(params))
        try:
            i_xt, se_xt = est.estimate_with_error(x, t)
            i_ty, se_ty = est.estimate_with_error(t, y)
        except ValueError as exc:  # name what was being estimated, not only why it failed
            raise ValueError(
                f"estimator {label!r} on layer {task.layer!r} at epoch {task.epoch} "
                f"(seed {task.seed}, {t.shape[1]} units): {exc}"
            ) from exc
        if task.bootstrap > 0:
            s = _task_seed(task)
            se_xt = _bootstrap_se(est, x, t, task.bootstrap, s)
            se_ty = _bootstrap_se(est, t, y, task.bootstrap, s + 1)
        out.append({**base, "estimator": label, "I_XT": i_xt, "I_TY": i_ty, "I_XT_se": se_xt,
                    "I_TY_se": se_ty, "status": task.store_status, "reason": task.store_reason})
    return out


def make_tasks(store: str | Path, cfg: dict[str, Any], seed: int) -> list[BlockTask]:
    """One :class:`BlockTask` per (layer, recorded epoch) of ``store``, for the config's estimators."""
    ds = _open(str(store))
    attrs = ds.attrs
    layers = list(attrs["layers"])
    wanted = cfg.get("analysis", {}).get("layers")
    if wanted:
        missing = [w for w in wanted if w not in layers]
        if missing:
            raise ValueError(
                f"analysis.layers: {missing[0]!r} is not a layer of {store}; its layers are {', '.join(layers)}"
            )
        layers = [lay for lay in layers if lay in wanted]
    x_mode = resolve_x_mode(cfg.get("analysis", {}).get("x", "auto"), bool(attrs.get("discrete_inputs", False)))
    if x_mode == "inputs" and "inputs" not in ds:
        raise ValueError(f"{store}: analysis.x is 'inputs' but the store has no `inputs` variable")
    ests = tuple(
        (estimator_label(e), e["name"], tuple(sorted(estimator_params(e).items())))
        for e in cfg["estimators"]
    )
    epochs = [int(e) for e in ds["epoch"].values]
    status = str(attrs.get("status", "ok"))
    reason = str(attrs.get("reason", ""))
    bootstrap = int(cfg.get("analysis", {}).get("bootstrap", 0))
    return [
        BlockTask(str(store), int(seed), layer, li, ei, ep, x_mode, ests, bootstrap, status, reason)
        for li, layer in enumerate(layers)
        for ei, ep in enumerate(epochs)
    ]


def run_tasks(tasks: Sequence[BlockTask], client=None, progress: bool = True, func=None) -> pd.DataFrame:
    """Run ``tasks`` (on ``client`` when given, else serially) and return the sorted MI table.

    ``func`` replaces :func:`estimate_block` (tests use it to inject faults).
    """
    func = func or estimate_block
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(tasks), desc="estimate", unit="block", disable=not progress, file=sys.stderr)
    if client is None:
        for task in tasks:
            rows.extend(func(task))
            bar.update(1)
    else:
        from distributed import as_completed

        futures = client.map(func, list(tasks), pure=False, retries=2)
        for fut in as_completed(futures):
            rows.extend(fut.result())
            bar.update(1)
    bar.close()
    return tidy_table(rows)


def tidy_table(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Order columns and rows of an MI table canonically (so equal results compare equal)."""
    df = pd.DataFrame(rows, columns=MI_COLUMNS) if not isinstance(rows, pd.DataFrame) else rows[MI_COLUMNS]
    df = df.sort_values(["estimator", "seed", "layer_index", "epoch"], kind="stable").reset_index(drop=True)
    df["reason"] = df["reason"].astype(object).fillna("").astype(str)
    return df


def local_client(workers: int, scheduler: str | None = None):
    """A Dask client: connected to ``scheduler`` when given, else a new LocalCluster of processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    # One thread per worker process, also inside its libraries: a Snakemake job with `threads: N`
    # exports OMP_NUM_THREADS=N, which every worker would inherit (N torch/BLAS threads in each
    # of N processes oversubscribe the cores; measured: autoencoder fits several times slower).
    single = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40, env=single)
    return Client(cluster)


def estimate_store(store: str | Path, cfg: dict[str, Any], seed: int, workers: int = 1,
                   scheduler: str | None = None, progress: bool = True) -> pd.DataFrame:
    """The MI table of one seed's store (see module docstring for the columns).

    Parameters
    ----------
    store : path
        Activation (or compressed) store, checked to be complete.
    cfg : dict
        The validated config (uses ``estimators`` and ``analysis``).
    workers : int
        Local Dask worker processes; 1 runs serially in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (cluster use); overrides ``workers``.
    """
    from infoplane.config import config_hash
    from infoplane.store import check_store, open_store

    open_store(store)  # raises ValueError naming the store when incomplete or corrupt
    check_store(store, config_hash(cfg))  # ... or when it was made by another config
    tasks = make_tasks(store, cfg, seed)
    if workers <= 1 and not scheduler:
        return run_tasks(tasks, None, progress)
    client = local_client(workers, scheduler)
    try:
        return run_tasks(tasks, client, progress)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not scheduler:
            cluster.close()


def collect_tables(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate per-seed MI tables into one tidy table."""
    frames = [pd.read_csv(p, keep_default_na=True) for p in paths]
    for p, f in zip(paths, frames):
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

