"""Panels of estimated against true MI, shared by the validation and synthetic-images figures.

Both figures draw summary tables (one row per point: ``true_mi``, ``mean`` and ``std`` over
seeds, bits) as one line per estimator or compression on a dashed identity line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infoplane.plots.style import BITS, band, collect_legend
from infoplane.units import bits_to_nats, nats_to_bits


def pick_n(df: pd.DataFrame, n: int | None, where: str) -> tuple[pd.DataFrame, str]:
    """Keep one sample size: ``n`` if given, else the largest; also a phrase saying which.

    A table without an ``n`` column is returned as it is (phrase '').
    """
    if "n" not in df.columns:
        if n is not None:
            raise ValueError(f"{where} has no column 'n'; it cannot select the sample size n={n}")
        return df, ""
    if n is not None:
        if n not in set(df["n"]):
            raise ValueError(
                f"{where}: sample size n={n} not in the table; it has "
                f"{sorted(int(v) for v in df['n'].unique())}"
            )
        return df[df["n"] == n], f"n = {n}"
    sizes = sorted(int(v) for v in df["n"].unique())
    if len(sizes) == 1:
        return df, f"n = {sizes[0]}"
    return df[df["n"] == sizes[-1]], f"n = {sizes[-1]} (largest of {sizes})"


def seeds_per_point(n_seeds: pd.Series) -> str:
    """``"3 seeds per point"`` or ``"2-3 seeds per point"`` from a summary's ``n_seeds``."""
    lo, hi = int(n_seeds.min()), int(n_seeds.max())
    count = str(hi) if lo == hi else f"{lo}-{hi}"
    return f"{count} seed{'s' if hi != 1 else ''} per point"


def identity(ax: plt.Axes, values: np.ndarray) -> None:
    """Dashed line y = x from 0 to the largest true MI (a perfect estimator)."""
    lo, hi = 0.0, float(np.nanmax(values)) if len(values) else 1.0
    ax.plot([lo, hi], [lo, hi], ls="--", color="0.35", lw=1.0, label="true MI", zorder=1)


def nats_axis(ax: plt.Axes) -> None:
    """A secondary y axis in nats on the right of ``ax``."""
    sec = ax.secondary_yaxis("right", functions=(bits_to_nats, nats_to_bits))
    sec.set_ylabel("estimate [nats]")


def _short(label: str) -> str:
    return label.split("(")[0]


def clip_off_scale(
    ax: plt.Axes,
    s: pd.DataFrame,
    palette: Mapping[str, Any],
    by: str,
    names: Mapping[str, str] | None = None,
) -> None:
    """Limit the y axis to a window around the truth, so that one line that is far off (e.g.
    binning at 12 bits in 25 dimensions) does not flatten the rest; name what is cut off (the
    ``by`` value, through ``names`` when given), with its largest or smallest mean, inside the
    panel. ``s`` has columns ``true_mi``, ``mean``, ``std`` and ``by``."""
    top_true = float(s["true_mi"].max())
    hi = 1.75 * top_true + 0.5
    lo = -0.75 * top_true - 0.5
    data_lo = float((s["mean"] - s["std"].fillna(0)).min())
    data_hi = float((s["mean"] + s["std"].fillna(0)).max())
    ax.set_ylim(max(lo, min(data_lo, 0.0) - 0.2), min(hi, max(data_hi, top_true) + 0.2))
    notes = []
    for key, e in s.groupby(by, sort=False):
        name = (names or {}).get(key, _short(str(key)))
        if (e["mean"] > hi).any():
            notes.append((f"\u2191 {name}: up to {e['mean'].max():.1f}", palette.get(key, "0.3")))
        elif (e["mean"] < lo).any():
            notes.append((f"\u2193 {name}: down to {e['mean'].min():.1f}", palette.get(key, "0.3")))
    for k, (text, colour) in enumerate(notes):
        ax.text(0.02, 0.98 - 0.08 * k, text, transform=ax.transAxes, ha="left", va="top",
                fontsize=6.5, color=colour, gid="off-scale")


def draw_lines(
    ax: plt.Axes,
    s: pd.DataFrame,
    palette: Mapping[str, Any],
    by: str,
    names: Mapping[str, str] | None = None,
) -> None:
    """One line per ``by`` value (mean against true MI, ±std band), in palette order; each
    line's gid is ``"mean:<value>"``."""
    for key in palette:
        e = s[s[by] == key].sort_values("true_mi")
        if e.empty:
            continue
        band(ax, e["true_mi"], e["mean"], e["std"], palette[key], lw=1.4, marker="o", ms=3,
             label=(names or {}).get(key, key), gid=f"mean:{key}")


def label_panel(ax: plt.Axes, title: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(f"true I(X;Y) {BITS}")
    ax.set_ylabel(f"estimate {BITS}")


def grid(n_rows: int, n_cols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    """A constrained-layout grid of ``n_rows`` x ``n_cols`` panels of about width x height inches."""
    return plt.subplots(n_rows, n_cols, figsize=(width * n_cols + 0.8, height * n_rows + 0.6),
                        squeeze=False, layout="constrained")


def side_legend(fig: Figure, axes: np.ndarray, what: str, with_bands: bool) -> None:
    """One legend right of the panels with every line once, whichever panel has it."""
    handles, labels = collect_legend(axes)
    title = f"{what}\n(band: ±1 s.d.\nover seeds)" if with_bands else what
    fig.legend(handles, labels, loc="outside right center", title=title)


def summary_hint(table_kind: str, summary_file: str, maker: str) -> str:
    """The hint appended when a figure gets a study's per-seed table instead of its summary."""
    return (f". The {table_kind} figure draws the summary the study writes ({summary_file}, written "
            f"by {maker}), not the per-seed table")
