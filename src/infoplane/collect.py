"""Collect a network study's per-seed tables into the study's tables.

``mi/seed<s>.csv`` -> ``mi.csv`` (and ``mi.nc``, the same table as an xarray Dataset with dims
(estimator, seed, layer, epoch)), ``metrics/seed<s>.csv`` -> ``metrics.csv``. Every file is
written atomically (:mod:`infoplane.atomic`) with a provenance sidecar beside each CSV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from infoplane.atomic import write_atomic
from infoplane.estimation import (
    collect_tables,
    to_dataset,
)
from infoplane.tables import METRIC_COLUMNS

PathLike = str | Path


def write_table(df: pd.DataFrame, path: PathLike, attrs: Mapping[str, Any] | None = None) -> Path:
    """Write ``df`` as CSV (no index) atomically, with ``attrs`` in a provenance sidecar."""
    from infoplane.provenance import write_sidecar

    if attrs is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_sidecar(path, dict(attrs))
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def collect_metrics(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Concatenate loss/accuracy tables (:data:`infoplane.tables.METRIC_COLUMNS`), sorted by
    (seed, epoch).

    Raises
    ------
    ValueError
        If no path is given or a table lacks a column (the message names the file).
    """
    if not paths:
        raise ValueError("no metrics tables given")
    frames = []
    for p in paths:
        df = pd.read_csv(p)
        missing = [c for c in METRIC_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: not a metrics table; missing column(s) {missing}")
        frames.append(df)
    metrics = pd.concat(frames, ignore_index=True)
    return metrics.sort_values(["seed", "epoch"], kind="stable").reset_index(drop=True)


def collect_study(
    mi_paths: Sequence[PathLike],
    out_csv: PathLike,
    out_nc: PathLike,
    attrs: Mapping[str, Any],
    metrics_paths: Sequence[PathLike] = (),
    out_metrics: PathLike | None = None,
) -> list[Path]:
    """Merge per-seed MI tables (and metrics tables) into the study's tables.

    Parameters
    ----------
    mi_paths : sequence of path
        Per-seed MI tables (:data:`infoplane.tables.MI_COLUMNS`, bits).
    out_csv, out_nc : path
        The merged MI table as CSV and as netCDF (h5netcdf; MI variables in bits, ``attrs`` as
        global attributes, stringified).
    attrs : mapping
        Provenance attributes (``infoplane.provenance.provenance_attrs``).
    metrics_paths : sequence of path
        Per-seed loss/accuracy tables; merged into ``out_metrics`` when given.
    out_metrics : path, optional
        Required when ``metrics_paths`` is not empty.

    Returns
    -------
    list of Path
        The files written: ``out_csv``, ``out_nc`` and, with metrics, ``out_metrics``.
    """
    if metrics_paths and out_metrics is None:
        raise ValueError("metrics tables were given but no output path for them (out_metrics)")
    df = collect_tables(list(mi_paths))
    written = [write_table(df, out_csv, attrs)]
    ds = to_dataset(df, {k: str(v) for k, v in attrs.items()})
    written.append(write_atomic(out_nc, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf")))
    if metrics_paths and out_metrics is not None:
        written.append(write_table(collect_metrics(metrics_paths), out_metrics, attrs))
    return written
