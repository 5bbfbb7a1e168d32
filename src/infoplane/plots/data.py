"""Tables for the figures: loading with column checks, seed means and smoothing.

The column contracts of the MI and metrics tables come from :mod:`infoplane.tables`; the
figures never recompute a study's summary, they read the table the study wrote.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from infoplane.tables import METRIC_COLUMNS, MI_COLUMNS, SPLITS

#: A table given as a DataFrame or as the path of a CSV file.
TableLike: TypeAlias = pd.DataFrame | str | Path

#: A mean MI estimate below this (bits) is impossible (MI >= 0) beyond any estimator error we
#: state: the estimator failed on that layer (e.g. Kozachenko-Leonenko on a saturated softmax,
#: whose compressed codes sit on a few points). Figures leave it out and say so.
IMPOSSIBLE_BELOW_BITS = -0.5


def load_table(
    table: TableLike,
    required: Sequence[str],
    name: str,
    hint: str = "",
    dtype: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Return a copy of ``table`` (a DataFrame or a CSV path) with the required columns checked.

    Parameters
    ----------
    table : DataFrame or path
    required : sequence of str
        Columns the table must have.
    name : str
        What the table is, for messages ("MI table").
    hint : str
        Appended to the missing-column message (e.g. which file to pass instead).
    dtype : mapping, optional
        Column types when reading a CSV (columns the file lacks are ignored).

    Raises
    ------
    ValueError
        If the file does not exist, the table is empty or a required column is missing; the
        message names the columns and the table (its file path when read from disk).
    """
    if isinstance(table, (str, Path)):
        path = Path(table)
        if not path.is_file():
            raise ValueError(f"{name} file {str(path)!r} does not exist")
        try:
            df = pd.read_csv(path, dtype=dict(dtype or {}))
        except pd.errors.EmptyDataError:
            raise ValueError(f"{name} file {str(path)!r} is empty") from None
        where = f"{name} file {str(path)!r}"
    elif isinstance(table, pd.DataFrame):
        df = table.copy()
        where = name
    else:
        raise ValueError(
            f"{name} must be a pandas DataFrame or a path to a CSV file, got {type(table).__name__}"
        )
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where} is missing required column(s) {', '.join(map(repr, missing))}; "
            f"it has columns {list(map(str, df.columns))}{hint}"
        )
    if len(df) == 0:
        raise ValueError(f"{where} is empty (no rows)")
    return df


def numeric(df: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Coerce ``columns`` to numbers in place; ValueError naming the column if that fails."""
    for col in columns:
        converted = pd.to_numeric(df[col], errors="coerce")
        bad = converted.isna() & df[col].notna()
        if bad.any():
            example = df.loc[bad, col].iloc[0]
            raise ValueError(f"{where}: column {col!r} must be numeric, found {example!r}")
        df[col] = converted


def as_text(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Make ``columns`` strings in place (a CSV reads layer "1" as the integer 1)."""
    for col in columns:
        df[col] = df[col].astype(str)


def load_mi(mi: TableLike) -> pd.DataFrame:
    """The MI table (:data:`infoplane.tables.MI_COLUMNS`, bits) with its columns checked and typed."""
    df = load_table(mi, MI_COLUMNS, "MI table", dtype={"layer": str})
    numeric(df, ["seed", "layer_index", "epoch", "I_XT", "I_TY", "I_XT_se", "I_TY_se"], "MI table")
    as_text(df, ["layer", "split", "estimator", "status"])
    df["reason"] = df["reason"].astype(object).where(df["reason"].notna(), "").astype(str)
    return df


def figure_split(df: pd.DataFrame, configured: Sequence[str] | None = None) -> str:
    """The split the figures draw from an MI table: ``all`` when the table has it, else the
    first of ``configured`` (the config's ``analysis.split``, in its order) the table has, else
    the table's first split in :data:`infoplane.tables.SPLITS` order."""
    present = set(df["split"].astype(str))
    order = ["all", *(configured or []), *SPLITS, *sorted(present)]
    return next(s for s in order if s in present)


def one_split(df: pd.DataFrame, split: str | None = None, *,
              prefer: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """The rows of one split of a table with a ``split`` column (all/train/test), and the split.

    ``split`` given: exactly that split. Else ``prefer`` when the table has it, else
    :func:`figure_split`. A table without a ``split`` column is returned whole with None.

    Raises
    ------
    ValueError
        If the table has no row of ``split`` (the message lists the splits it has).
    """
    if "split" not in df.columns:
        return df, None
    if split is None:
        present = set(df["split"].astype(str))
        split = prefer if prefer in present else figure_split(df)
    rows = df[df["split"].astype(str) == split]
    if rows.empty:
        raise ValueError(f"table has no rows of split {split!r}; it has {sorted(set(df['split'].astype(str)))}")
    return rows, split


def load_metrics(metrics: TableLike) -> pd.DataFrame:
    """The loss/accuracy table (:data:`infoplane.tables.METRIC_COLUMNS`), non-finite values as NaN."""
    df = load_table(metrics, METRIC_COLUMNS, "metrics table")
    numeric(df, list(METRIC_COLUMNS), "metrics table")
    # A diverged run logs inf/NaN losses: they are not data points.
    return df.replace([np.inf, -np.inf], np.nan)


def fmt_seed(seed: Any) -> str:
    return str(int(seed)) if float(seed).is_integer() else str(seed)


# --------------------------------------------------------------------------------------------
# Seed means
# --------------------------------------------------------------------------------------------


def _excluded_seeds(df: pd.DataFrame) -> list[Any]:
    """Seeds with a row whose status is not ok; warns naming them and their reasons."""
    all_seeds = sorted(df["seed"].unique())
    bad_rows = df[df["status"] != "ok"]
    bad_seeds = sorted(bad_rows["seed"].unique())
    if bad_seeds:
        details = []
        for s in bad_seeds:
            rows = bad_rows[bad_rows["seed"] == s]
            reasons = sorted({str(r) for r in rows["reason"].dropna() if str(r).strip()})
            status = ", ".join(sorted(rows["status"].unique()))
            why = f"{status}: {'; '.join(reasons)}" if reasons else status
            details.append(f"seed {fmt_seed(s)} ({why})")
        warnings.warn(
            f"excluded {len(bad_seeds)} of {len(all_seeds)} seeds from the mean because their "
            f"status is not 'ok': {', '.join(details)}",
            UserWarning,
            stacklevel=3,
        )
    if len(bad_seeds) == len(all_seeds):
        raise ValueError(
            f"MI table: all {len(all_seeds)} seeds have status != 'ok'; there is nothing to plot"
        )
    return bad_seeds


def mean_over_seeds(mi: TableLike, split: str | None = None) -> tuple[pd.DataFrame, int]:
    """Average an MI table over the seeds whose runs are ok; never over diverged seeds.

    Only the rows of one split are averaged: ``split``, by default :func:`figure_split` of the
    table (``all`` when present); ``attrs["split"]`` of the result names it.

    A seed is excluded entirely when any of its rows has ``status != "ok"`` (its training
    diverged), so every (layer, epoch) point of the mean is over the same seeds. A
    :class:`UserWarning` says how many seeds were excluded and why (their ``reason``).

    Parameters
    ----------
    mi : DataFrame or path
        MI table with the columns in :data:`infoplane.tables.MI_COLUMNS` (bits).
    split : str, optional
        The split whose rows are averaged.

    Returns
    -------
    mean : DataFrame
        One row per (estimator, layer, layer_index, epoch), sorted by estimator, layer_index and
        epoch, with columns ``I_XT, I_TY`` (mean over ok seeds, bits), ``I_XT_std, I_TY_std``
        (across-seed standard deviation, ddof=1; NaN with one seed), ``I_XT_se, I_TY_se`` (mean
        of the estimators' per-seed standard errors; NaN when not available), ``I_XT_err,
        I_TY_err`` (the error drawn in figures: the across-seed std when there are at least two
        seeds, otherwise the estimator's standard error) and ``n_seeds``. Means below
        :data:`IMPOSSIBLE_BELOW_BITS` are set to NaN (with a warning); ``attrs["not_drawn"]``
        maps each estimator to what was masked.
    n_excluded : int
        Number of seeds excluded because they are not ok.

    Raises
    ------
    ValueError
        On a missing column, an empty table, a split the table lacks, or when no seed is ok.
    """
    df, split = one_split(load_mi(mi), split)
    bad_seeds = _excluded_seeds(df)
    ok = df[~df["seed"].isin(bad_seeds)]
    keys = ["estimator", "layer", "layer_index", "epoch"]
    grouped = ok.groupby(keys, sort=False)
    out = grouped[["I_XT", "I_TY"]].mean()
    std = grouped[["I_XT", "I_TY"]].std(ddof=1)
    se = grouped[["I_XT_se", "I_TY_se"]].mean()
    out["I_XT_std"] = std["I_XT"]
    out["I_TY_std"] = std["I_TY"]
    out["I_XT_se"] = se["I_XT_se"]
    out["I_TY_se"] = se["I_TY_se"]
    out["n_seeds"] = grouped["seed"].nunique()
    for q in ("I_XT", "I_TY"):
        out[f"{q}_err"] = np.where(out["n_seeds"] >= 2, out[f"{q}_std"], out[f"{q}_se"])
    out = out.reset_index().sort_values(["estimator", "layer_index", "epoch"], kind="stable")
    out = out.reset_index(drop=True)
    masked = _mask_impossible(out)
    if masked:
        warnings.warn(not_drawn_note(masked), UserWarning, stacklevel=2)
    out.attrs["not_drawn"] = masked
    out.attrs["split"] = split
    return out, len(bad_seeds)


def _mask_impossible(mean: pd.DataFrame) -> dict[str, list[str]]:
    """Set mean estimates below :data:`IMPOSSIBLE_BELOW_BITS` (and their errors) to NaN in
    place; return, per estimator, one phrase per masked (quantity, layer)."""
    parts: dict[str, list[str]] = {}
    for q in ("I_XT", "I_TY"):
        bad = mean[q] < IMPOSSIBLE_BELOW_BITS
        if not bad.any():
            continue
        for (est, layer), grp in mean[bad].groupby(["estimator", "layer"], sort=False):
            n = len(grp)
            parts.setdefault(str(est), []).append(
                f"{est} {q} of layer {layer} at {n} epoch{'s' if n != 1 else ''} "
                f"(down to {grp[q].min():.1f})"
            )
        mean.loc[bad, [q, f"{q}_std", f"{q}_se", f"{q}_err"]] = np.nan
    return parts


def not_drawn_note(masked: Mapping[str, Sequence[str]], estimators: Sequence[str] | None = None) -> str:
    """One sentence naming the masked estimates of ``estimators`` (all when None); '' if none."""
    keep = masked if estimators is None else {e: masked[e] for e in estimators if e in masked}
    parts = [p for phrases in keep.values() for p in phrases]
    if not parts:
        return ""
    return (f"Not drawn: estimates below {IMPOSSIBLE_BELOW_BITS:g} bits (MI cannot be negative; the "
            f"estimator failed there; the values stay in the MI table): " + "; ".join(parts) + ".")


def split_subtitle(split: str | None) -> str:
    """``"split: all"`` (any split) for a comparison figure's subtitle; '' for a table without
    splits. (The network figures' note, :func:`infoplane.plots.network.split_phrase`, names
    only a split other than all.)"""
    return f"split: {split}" if split else ""


def conditions_of(df: pd.DataFrame) -> list[str | None]:
    """A sweep table's conditions in table order (its ``condition`` column), else ``[None]``."""
    if "condition" not in df.columns:
        return [None]
    return list(dict.fromkeys(df["condition"].astype(str)))


def rows_of(df: pd.DataFrame, condition: str | None) -> pd.DataFrame:
    """The rows of ``condition`` (all rows for None)."""
    return df if condition is None else df[df["condition"].astype(str) == condition]


def select_estimators(df: pd.DataFrame, estimator: str | Sequence[str] | None) -> list[str]:
    """The estimators to draw: ``estimator`` (checked against the table) or all, sorted."""
    available = sorted(df["estimator"].unique())
    if estimator is None:
        return available
    wanted = [estimator] if isinstance(estimator, str) else list(estimator)
    for e in wanted:
        if e not in available:
            raise ValueError(f"estimator {e!r} is not in the MI table; it has {available}")
    return wanted


def layer_order(df: pd.DataFrame) -> list[str]:
    """Layers in network order (by ``layer_index``)."""
    order = df[["layer", "layer_index"]].drop_duplicates().sort_values("layer_index", kind="stable")
    return list(dict.fromkeys(order["layer"].astype(str)))


def study_of(df: pd.DataFrame, study: str | None) -> str | None:
    """``study``, else the table's ``study`` column when it has one value."""
    if study is not None:
        return study
    if "study" in df.columns and df["study"].nunique() == 1:
        return str(df["study"].iloc[0])
    return None


# --------------------------------------------------------------------------------------------
# Smoothing
# --------------------------------------------------------------------------------------------


def _check_int(value: Any, ok: bool, message: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not ok:
        raise ValueError(message)


def smooth(
    series_df: pd.DataFrame,
    window: int,
    polyorder: int,
    columns: Sequence[str] = ("I_XT", "I_TY"),
    by: Sequence[str] = ("estimator", "layer"),
) -> pd.DataFrame:
    """Savitzky-Golay smoothing of ``columns`` along epoch, separately per group.

    The filter (:func:`scipy.signal.savgol_filter`) runs over the recorded epochs in order, i.e.
    over the record index, not over equally spaced epochs: with log-spaced recordings it smooths
    in log-epoch. A group shorter than ``window`` uses the largest odd window that fits and is
    left unsmoothed when that is not larger than ``polyorder``. NaN values stay NaN and are
    skipped by the filter.

    Parameters
    ----------
    series_df : DataFrame
        Table with an ``epoch`` column, the value ``columns`` and the grouping columns ``by``
        (those of ``by`` that are absent are ignored).
    window : int
        Odd window length in records, >= 3.
    polyorder : int
        Polynomial order, 0 <= polyorder < window.
    columns, by : sequence of str
        Columns to smooth and columns that define one series.

    Returns
    -------
    DataFrame
        A copy of ``series_df`` (same rows, same order) with ``columns`` replaced by their
        smoothed values.
    """
    _check_int(window, isinstance(window, (int, np.integer)) and window >= 3,
               f"smoothing window must be an integer >= 3, got {window!r}")
    if window % 2 == 0:
        raise ValueError(f"smoothing window must be odd, got {window}")
    _check_int(polyorder, isinstance(polyorder, (int, np.integer)) and 0 <= polyorder < window,
               f"smoothing polyorder must be an integer with 0 <= polyorder < window={window}, "
               f"got {polyorder!r}")
    missing = [c for c in ("epoch", *columns) if c not in series_df.columns]
    if missing:
        raise ValueError(
            f"table to smooth is missing required column(s) {', '.join(map(repr, missing))}"
        )
    # scipy.signal takes seconds to import: only when smoothing
    from scipy.signal import savgol_filter

    out = series_df.copy()
    keys = [c for c in by if c in out.columns]
    groups = [g.index for _, g in out.groupby(keys, sort=False)] if keys else [out.index]
    for idx in groups:
        part = out.loc[idx].sort_values("epoch", kind="stable")
        for col in columns:
            values = part[col].to_numpy(dtype=float)
            finite = np.isfinite(values)
            m = int(finite.sum())
            w = min(window, m if m % 2 == 1 else m - 1)
            if w <= polyorder or w < 3:
                continue
            smoothed = values.copy()
            smoothed[finite] = savgol_filter(values[finite], w, polyorder, mode="interp")
            out.loc[part.index, col] = smoothed
    return out


def check_smoothing(smoothing: Mapping[str, Any] | None) -> dict[str, int] | None:
    """``{"window", "polyorder"}`` from a smoothing mapping (the config's ``figures.smoothing``
    may add ``enabled``); None when smoothing is off."""
    if smoothing is None:
        return None
    if not isinstance(smoothing, Mapping):
        raise ValueError(
            f"smoothing must be None or a mapping with keys 'window' and 'polyorder', "
            f"got {smoothing!r}"
        )
    unknown = set(smoothing) - {"window", "polyorder", "enabled"}
    if unknown:
        raise ValueError(f"unknown smoothing key(s) {sorted(unknown)}; use 'window', 'polyorder'")
    if not smoothing.get("enabled", True):
        return None
    for key in ("window", "polyorder"):
        if key not in smoothing:
            raise ValueError(f"smoothing is missing the key {key!r}")
    return {"window": smoothing["window"], "polyorder": smoothing["polyorder"]}
