"""Collect a network study's per-seed tables into the study's tables.

``mi/<group>.csv`` -> ``mi.csv`` (and ``mi.nc``, the same table as an xarray Dataset with dims
(estimator, seed, layer, epoch, split); and ``summary.csv``, its
:func:`infoplane.summary.mi_summary`), ``metrics/<group>.csv`` -> ``metrics.csv``,
``geometry/<group>.csv`` -> ``geometry.csv``, ``sgd/<group>.csv`` -> ``sgd.csv``
(:data:`infoplane.tables.SGD_COLUMNS`). Every file is written atomically
(:mod:`infoplane.atomic`) with a provenance sidecar beside each CSV.

A sweep study (config key ``sweep``) collects each condition as above under
``<study>/<condition>/`` and then stacks the conditions with :func:`collect_sweep`: the study's
tables get the sweep columns :func:`infoplane.tables.sweep_columns` in front of the usual ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from infoplane.atomic import write_atomic
from infoplane.estimation import (
    collect_tables,
    tidy_geometry,
    to_dataset,
)
from infoplane.summary import mi_summary
from infoplane.tables import GEOMETRY_COLUMNS, METRIC_COLUMNS, MI_COLUMNS, SGD_COLUMNS, sweep_columns

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


def collect_geometry(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Concatenate geometry tables (:data:`infoplane.tables.GEOMETRY_COLUMNS`), sorted by
    (seed, layer_index, epoch, split).

    Raises
    ------
    ValueError
        If no path is given or a table lacks a column (the message names the file).
    """
    if not paths:
        raise ValueError("no geometry tables given")
    frames = []
    for p in paths:
        df = pd.read_csv(p, dtype={"layer": str, "split": str})
        missing = [c for c in GEOMETRY_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: not a geometry table; missing column(s) {missing}")
        frames.append(df)
    return tidy_geometry(pd.concat(frames, ignore_index=True))


def collect_sgd(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Concatenate SGD-diagnostics tables (:data:`infoplane.tables.SGD_COLUMNS`), sorted by
    (seed, layer_index, epoch).

    Raises
    ------
    ValueError
        If no path is given or a table lacks a column (the message names the file).
    """
    if not paths:
        raise ValueError("no SGD-diagnostics tables given")
    frames = []
    for p in paths:
        df = pd.read_csv(p, dtype={"layer": str})
        missing = [c for c in SGD_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: not an SGD-diagnostics table; missing column(s) {missing}")
        frames.append(df[list(SGD_COLUMNS)])
    sgd = pd.concat(frames, ignore_index=True)
    return sgd.sort_values(["seed", "layer_index", "epoch"], kind="stable").reset_index(drop=True)


def collect_study(
    mi_paths: Sequence[PathLike],
    out_csv: PathLike,
    out_nc: PathLike,
    attrs: Mapping[str, Any],
    metrics_paths: Sequence[PathLike] = (),
    out_metrics: PathLike | None = None,
    *,
    out_summary: PathLike | None = None,
    geometry_paths: Sequence[PathLike] = (),
    out_geometry: PathLike | None = None,
    sgd_paths: Sequence[PathLike] = (),
    out_sgd: PathLike | None = None,
) -> list[Path]:
    """Merge per-seed MI tables (and metrics and SGD-diagnostics tables) into the study's tables.

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
    out_summary : path, optional
        Where to write the MI table's summary (:func:`infoplane.summary.mi_summary`, bits).
    geometry_paths : sequence of path
        Per-group geometry tables (:data:`infoplane.tables.GEOMETRY_COLUMNS`); merged into
        ``out_geometry`` when given.
    out_geometry : path, optional
        Required when ``geometry_paths`` is not empty.
    sgd_paths : sequence of path
        Per-group SGD-diagnostics tables (:data:`infoplane.tables.SGD_COLUMNS`); merged into
        ``out_sgd`` (:func:`collect_sgd`) when given.
    out_sgd : path, optional
        Required when ``sgd_paths`` is not empty.

    Returns
    -------
    list of Path
        The files written: ``out_csv``, ``out_nc`` and, when given, ``out_metrics``,
        ``out_summary``, ``out_geometry`` and ``out_sgd``.
    """
    if metrics_paths and out_metrics is None:
        raise ValueError("metrics tables were given but no output path for them (out_metrics)")
    if geometry_paths and out_geometry is None:
        raise ValueError("geometry tables were given but no output path for them (out_geometry)")
    if sgd_paths and out_sgd is None:
        raise ValueError("SGD-diagnostics tables were given but no output path for them (out_sgd)")
    df = collect_tables(list(mi_paths))
    written = [write_table(df, out_csv, attrs)]
    ds = to_dataset(df, {k: str(v) for k, v in attrs.items()})
    written.append(write_atomic(out_nc, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf")))
    if metrics_paths and out_metrics is not None:
        written.append(write_table(collect_metrics(metrics_paths), out_metrics, attrs))
    if out_summary is not None:
        written.append(write_table(mi_summary(df), out_summary, attrs))
    if geometry_paths and out_geometry is not None:
        written.append(write_table(collect_geometry(geometry_paths), out_geometry, attrs))
    if sgd_paths and out_sgd is not None:
        written.append(write_table(collect_sgd(sgd_paths), out_sgd, attrs))
    return written


def _with_condition(df: pd.DataFrame, name: str, overrides: Mapping[str, Any]) -> pd.DataFrame:
    """``df`` with the sweep columns of condition ``name`` in front."""
    from infoplane.config import sweep_value

    front = pd.DataFrame({"condition": [name] * len(df)}, index=df.index)
    for key, value in overrides.items():
        front[key] = [sweep_value(key, value)] * len(df)
    return pd.concat([front, df], axis=1)


def sweep_tables(
    cfg: Mapping[str, Any],
    conditions: Sequence[str],
    mi_paths: Sequence[PathLike],
    metrics_paths: Sequence[PathLike],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack a sweep's per-condition MI and metrics tables (one path of each per condition).

    Returns the MI table (:func:`infoplane.tables.sweep_columns` then
    :data:`~infoplane.tables.MI_COLUMNS`, bits) and the metrics table (sweep columns then
    :data:`~infoplane.tables.METRIC_COLUMNS`), conditions in the order given.

    Raises
    ------
    ValueError
        If a condition is not one of the config's sweep, or the path lists differ in length.
    """
    from infoplane.config import sweep_conditions

    known = sweep_conditions(cfg)
    if not (len(conditions) == len(mi_paths) == len(metrics_paths)):
        raise ValueError(f"{len(conditions)} conditions but {len(mi_paths)} MI and {len(metrics_paths)} metrics tables")
    unknown = [c for c in conditions if c not in known]
    if unknown:
        raise ValueError(f"condition {unknown[0]!r} is not in the config's sweep; its conditions: {', '.join(known)}")
    mi = [_with_condition(collect_tables([p]), c, known[c]) for c, p in zip(conditions, mi_paths, strict=False)]
    met = [_with_condition(collect_metrics([p]), c, known[c]) for c, p in zip(conditions, metrics_paths, strict=False)]
    columns = sweep_columns(cfg)
    mi_df, met_df = pd.concat(mi, ignore_index=True), pd.concat(met, ignore_index=True)
    return mi_df[[*columns, *[c for c in mi_df.columns if c not in columns]]], met_df


def sweep_geometry(cfg: Mapping[str, Any], conditions: Sequence[str],
                   geometry_paths: Sequence[PathLike]) -> pd.DataFrame:
    """Stack a sweep's per-condition geometry tables (one path per condition, in order): the
    sweep columns then :data:`~infoplane.tables.GEOMETRY_COLUMNS`.

    Raises
    ------
    ValueError
        If a condition is not one of the config's sweep, or the lists differ in length.
    """
    return _stack_conditions(cfg, conditions, geometry_paths, collect_geometry, "geometry tables")


def sweep_dataset(mi: pd.DataFrame, attrs: Mapping[str, Any]):
    """A sweep's MI table as an xarray Dataset with dims (condition, estimator, seed, layer,
    epoch, split); MI in bits, each swept key a coordinate along ``condition`` (NaN where a condition
    lacks an estimator)."""
    import xarray as xr

    keys = [c for c in mi.columns if c not in MI_COLUMNS and c != "condition"]
    parts = []
    for name, sub in mi.groupby("condition", sort=False):
        ds = to_dataset(sub[list(MI_COLUMNS)].reset_index(drop=True))
        parts.append(ds.expand_dims(condition=[name]))
    ds = xr.concat(parts, dim="condition", join="outer")
    first = mi.drop_duplicates("condition").set_index("condition")
    for key in keys:
        ds = ds.assign_coords({key: ("condition", first.loc[list(ds["condition"].values), key].tolist())})
    ds.attrs.update({k: str(v) for k, v in attrs.items()})
    return ds


def collect_sweep(
    cfg: Mapping[str, Any],
    conditions: Sequence[str],
    mi_paths: Sequence[PathLike],
    metrics_paths: Sequence[PathLike],
    out_csv: PathLike,
    out_nc: PathLike,
    out_metrics: PathLike,
    attrs: Mapping[str, Any],
    *,
    out_summary: PathLike | None = None,
    geometry_paths: Sequence[PathLike] = (),
    out_geometry: PathLike | None = None,
    sgd_paths: Sequence[PathLike] = (),
    out_sgd: PathLike | None = None,
) -> list[Path]:
    """Write a sweep study's ``mi.csv``, ``mi.nc`` and ``metrics.csv`` from its conditions'
    tables (see :func:`sweep_tables`, :func:`sweep_dataset`), when ``out_summary`` is given the
    summary of every condition (:func:`infoplane.summary.mi_summary`, the sweep columns in
    front), with ``geometry_paths`` (one per condition) ``out_geometry`` (see
    :func:`sweep_geometry`), and with ``sgd_paths`` (one per condition in ``conditions`` order)
    ``out_sgd``: the SGD diagnostics with the sweep columns in front, as the metrics; returns
    the written paths."""
    if geometry_paths and out_geometry is None:
        raise ValueError("geometry tables were given but no output path for them (out_geometry)")
    mi, metrics = sweep_tables(cfg, conditions, mi_paths, metrics_paths)
    geometry = sweep_geometry(cfg, conditions, geometry_paths) if geometry_paths else None
    written = [write_table(mi, out_csv, attrs)]
    ds = sweep_dataset(mi, attrs)
    written.append(write_atomic(out_nc, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf")))
    written.append(write_table(metrics, out_metrics, attrs))
    if out_summary is not None:
        written.append(write_table(mi_summary(mi), out_summary, attrs))
    if geometry is not None and out_geometry is not None:
        written.append(write_table(geometry, out_geometry, attrs))
    if sgd_paths:
        written.append(write_table(sweep_sgd(cfg, conditions, sgd_paths), _required(out_sgd, "out_sgd"), attrs))
    return written


def _required(path: PathLike | None, name: str) -> PathLike:
    if path is None:
        raise ValueError(f"SGD-diagnostics tables were given but no output path for them ({name})")
    return path


def sweep_sgd(cfg: Mapping[str, Any], conditions: Sequence[str], sgd_paths: Sequence[PathLike]) -> pd.DataFrame:
    """Stack a sweep's per-condition SGD-diagnostics tables (one path per condition): the sweep
    columns (:func:`infoplane.tables.sweep_columns`) then :data:`~infoplane.tables.SGD_COLUMNS`.

    Raises
    ------
    ValueError
        If a condition is not one of the config's sweep, or the lists differ in length.
    """
    return _stack_conditions(cfg, conditions, sgd_paths, collect_sgd, "SGD-diagnostics tables")


def _stack_conditions(cfg: Mapping[str, Any], conditions: Sequence[str], paths: Sequence[PathLike],
                      collect: Any, what: str) -> pd.DataFrame:
    """One table per condition (``paths`` in ``conditions`` order) read by ``collect`` and
    stacked with the sweep columns in front; ValueError names an unknown condition or a length
    mismatch (``what`` names the tables)."""
    from infoplane.config import sweep_conditions

    known = sweep_conditions(cfg)
    if len(conditions) != len(paths):
        raise ValueError(f"{len(conditions)} conditions but {len(paths)} {what}")
    unknown = [c for c in conditions if c not in known]
    if unknown:
        raise ValueError(f"condition {unknown[0]!r} is not in the config's sweep; its conditions: {', '.join(known)}")
    parts = [_with_condition(collect([p]), c, known[c]) for c, p in zip(conditions, paths, strict=True)]
    return pd.concat(parts, ignore_index=True)
