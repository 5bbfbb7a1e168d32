"""The MI summary of a network study: how much I(X;T) each layer loses late in training.

The numbers the compression debate quotes (Shwartz-Ziv & Tishby 2017, arXiv:1703.00810, report
a late decrease of I(X;T) in the hidden layers of a tanh network; Saxe et al. 2018, ICLR, Fig. 1,
find none in ReLU networks), computed once from the MI table (:data:`infoplane.tables.MI_COLUMNS`,
bits) and written as ``summary.csv`` (:data:`infoplane.tables.MI_SUMMARY_COLUMNS`) beside
``mi.csv`` by the collect jobs; the figures read that table and never recompute it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from infoplane.tables import MI_COLUMNS, MI_SUMMARY_COLUMNS

#: Statistics over seeds: (per-seed column, summary column stem).
_SEED_STATS: tuple[tuple[str, str], ...] = (
    ("peak", "I_XT_peak"), ("peak_epoch", "peak_epoch"), ("final", "I_XT_final"),
    ("late_drop", "I_XT_late_drop"), ("final_ty", "I_TY_final"),
)


def condition_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` that name a condition: ``condition`` and the swept keys of a sweep
    study's tables (:func:`infoplane.tables.sweep_columns`), in that order; [] for other tables."""
    from infoplane.config import SWEEP_KEYS

    return [c for c in ("condition", *SWEEP_KEYS) if c in df.columns]


def summary_keys(df: pd.DataFrame) -> list[str]:
    """The columns one summary row is per: condition columns, ``estimator``, ``split``, ``layer``
    and ``layer_index``."""
    return [*condition_columns(df), "estimator", "split", "layer", "layer_index"]


def _checked(mi: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in MI_COLUMNS if c not in mi.columns]
    if missing:
        raise ValueError(f"MI table is missing column(s) {', '.join(map(repr, missing))}; "
                         f"it has {list(map(str, mi.columns))}")
    if mi.empty:
        raise ValueError("MI table is empty (no rows)")
    df = mi.copy()
    for col in ("seed", "epoch", "layer_index", "I_XT", "I_TY"):
        converted = pd.to_numeric(df[col], errors="coerce")
        bad = converted.isna() & df[col].notna()
        if bad.any():
            raise ValueError(f"MI table: column {col!r} must be numeric, found {df.loc[bad, col].iloc[0]!r}")
        df[col] = converted
    df["layer"] = df["layer"].astype(str)
    df["status"] = df["status"].astype(str)
    dup = df.duplicated([*summary_keys(df), "seed", "epoch"])
    if dup.any():
        row = df[dup].iloc[0]
        raise ValueError(f"MI table has more than one row for (estimator {row['estimator']!r}, layer "
                         f"{row['layer']!r}, seed {row['seed']}, epoch {row['epoch']})")
    return df


def per_seed(ok: pd.DataFrame, final_epoch: float) -> pd.DataFrame:
    """Per seed of one (condition, estimator, split, layer): peak I(X;T) over ``ok`` rows and its
    (first) epoch, I(X;T) and I(T;Y) at ``final_epoch`` and the late drop; bits.

    Parameters
    ----------
    ok : DataFrame
        The ok rows (status ok, finite I(X;T)) of the seeds to use; each has a row at
        ``final_epoch``.
    final_epoch : float

    Returns
    -------
    DataFrame
        Index seed; columns ``peak, peak_epoch, final, late_drop, final_ty``.
    """
    ordered = ok.sort_values(["seed", "epoch"], kind="stable")
    at_peak = ordered.loc[ordered.groupby("seed")["I_XT"].idxmax()].set_index("seed")
    at_final = ordered[ordered["epoch"] == final_epoch].set_index("seed")
    out = pd.DataFrame({"peak": at_peak["I_XT"], "peak_epoch": at_peak["epoch"]})
    out["final"] = at_final["I_XT"]
    out["late_drop"] = out["peak"] - out["final"]
    out["final_ty"] = at_final["I_TY"]
    return out


def curve_numbers(ok: pd.DataFrame, final_epoch: float) -> dict[str, float]:
    """Peak, its epoch, final value and late drop of the seed-mean I(X;T) curve (bits): the mean
    over the seeds of ``ok`` at each epoch where every one of them has an ok row (an epoch where
    a seed's row is not ok is left out of the curve rather than averaged over fewer seeds)."""
    stats = ok.groupby("epoch")["I_XT"].agg(["mean", "count"]).sort_index()
    curve = stats.loc[stats["count"] == ok["seed"].nunique(), "mean"]
    if curve.empty or final_epoch not in curve.index:
        return dict.fromkeys(("curve_I_XT_peak", "curve_peak_epoch", "curve_I_XT_final",
                              "curve_I_XT_late_drop"), np.nan)
    peak_epoch = curve.idxmax()
    peak, final = float(curve[peak_epoch]), float(curve[final_epoch])
    return {"curve_I_XT_peak": peak, "curve_peak_epoch": float(peak_epoch), "curve_I_XT_final": final,
            "curve_I_XT_late_drop": peak - final}


def _group_row(group: pd.DataFrame) -> dict[str, Any]:
    """The numbers of one summary row (see :data:`infoplane.tables.MI_SUMMARY_COLUMNS`)."""
    final_epoch = group["epoch"].max()
    good = (group["status"] == "ok") & np.isfinite(group["I_XT"].to_numpy(dtype=float))
    ok = group[good]
    complete = set(ok.loc[ok["epoch"] == final_epoch, "seed"])
    ok = ok[ok["seed"].isin(complete)]
    seeds = per_seed(ok, final_epoch) if complete else pd.DataFrame(columns=[c for c, _ in _SEED_STATS])
    row: dict[str, Any] = {
        "n_seeds": len(complete),
        "n_seeds_excluded": int(group["seed"].nunique()) - len(complete),
        "n_rows_excluded": int((~good).sum()),
        "final_epoch": final_epoch,
    }
    for col, stem in _SEED_STATS:
        values = seeds[col].astype(float)
        row[f"{stem}_mean"] = float(values.mean()) if len(values) else np.nan
        row[f"{stem}_std"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
    row.update(curve_numbers(ok, final_epoch))
    return row


def mi_summary(mi: pd.DataFrame) -> pd.DataFrame:
    """Peak, final and late drop of I(X;T) per (condition, estimator, split, layer), over seeds.

    For each group of the MI table (:func:`summary_keys`), with ``final_epoch`` its last recorded
    epoch: rows whose status is not ``ok`` (or whose I(X;T) is not finite) are left out and
    counted (``n_rows_excluded``); a seed without an ok row at ``final_epoch`` (e.g. diverged)
    has no final value and is left out of every number (``n_seeds_excluded``). For each other
    seed: the peak of I(X;T) over its ok recorded epochs and the epoch of the peak (the first,
    on ties), I(X;T) and I(T;Y) at ``final_epoch``, and the late drop = peak - final (>= 0).
    Each is reported as mean and standard deviation (ddof=1; NaN with one seed) over those
    seeds, and peak, its epoch, final and drop also of the seed-mean curve (the mean over those
    seeds at each epoch where all of them are ok; its drop is not the mean of the seeds' drops
    when the seeds peak at different epochs).

    Parameters
    ----------
    mi : DataFrame
        MI table: :data:`infoplane.tables.MI_COLUMNS` (bits), optionally a sweep study's
        condition columns in front and a ``split`` column.

    Returns
    -------
    DataFrame
        :func:`summary_keys` then the numbers of :data:`infoplane.tables.MI_SUMMARY_COLUMNS`
        (bits; epochs). Rows in table order of condition, estimator and split, then by
        ``layer_index``.

    Raises
    ------
    ValueError
        On a missing column, an empty table, a non-numeric MI or epoch, or two rows for one
        (group, seed, epoch).
    """
    df = _checked(mi)
    keys = summary_keys(df)
    order = [k for k in keys if k not in ("layer", "layer_index")]
    rank = {k: {v: i for i, v in enumerate(pd.unique(df[k]))} for k in order}
    rows = []
    for values, group in df.groupby(keys, sort=False, dropna=False):
        rows.append({**dict(zip(keys, values, strict=True)), **_group_row(group)})
    out = pd.DataFrame(rows)
    sort_by = pd.DataFrame({k: out[k].map(rank[k]) for k in order}).assign(layer_index=out["layer_index"])
    out = out.loc[sort_by.sort_values([*order, "layer_index"], kind="stable").index].reset_index(drop=True)
    numbers = [c for c in MI_SUMMARY_COLUMNS if c not in keys]
    return out[[*keys, *numbers]]

