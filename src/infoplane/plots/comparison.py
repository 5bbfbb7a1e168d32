"""Figures that put conditions and estimators side by side: the compression debate.

Shwartz-Ziv & Tishby (2017, arXiv:1703.00810) saw every hidden layer of a tanh network lose
I(X;T) late in training (30 bins on the tanh range); Saxe et al. (2018, ICLR, Fig. 1) saw no
such loss in ReLU networks; Goldfeld et al. (2019, ICML; abstract) identify the binning-based
I(X;T) of past works as a measure of the clustering of the hidden representations. These figures put those
claims next to each other for one study:

- :func:`compression_grid`: information planes, one row per condition (a sweep's conditions,
  e.g. tanh and ReLU), one column per estimator, from the study's ``mi.csv``.
- :func:`late_drop`: the late drop of I(X;T) (peak - final) per layer and estimator, one panel
  per condition, from the study's ``summary.csv`` (:data:`infoplane.tables.MI_SUMMARY_COLUMNS`).
- :func:`clustering`: I(X;T) of every estimator against epoch beside the clustering score of the
  same layer, from ``mi.csv`` and ``geometry.csv``.

Tables with a ``split`` column are drawn for the split ``all`` (else their first split; the
figure says which). MI in bits on every axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infoplane.plots.data import (
    TableLike,
    conditions_of,
    layer_order,
    load_mi,
    load_table,
    numeric,
    one_split,
    rows_of,
    split_subtitle,
)
from infoplane.plots.names import COMPARISON_FIGURES
from infoplane.plots.network import _layer_label, _mi_data, _MIData, _plane_layer, plane_keys
from infoplane.plots.style import (
    BITS,
    MARKERS,
    OutSpec,
    band,
    canvas,
    collect_legend,
    epoch_axis,
    epoch_norm,
    estimator_palette,
    layer_palette,
    save_figure,
    seeds_phrase,
    style,
    suptitle,
)

#: Columns of ``summary.csv`` the late-drop figure reads (a subset of
#: :data:`infoplane.tables.MI_SUMMARY_COLUMNS`).
LATE_DROP_FIGURE_COLUMNS: tuple[str, ...] = (
    "estimator", "layer", "layer_index", "n_seeds", "I_XT_late_drop_mean", "I_XT_late_drop_std",
)

#: Columns of ``geometry.csv`` the clustering figure reads (one row per seed, layer, epoch; a
#: ``split`` column is optional).
CLUSTERING_FIGURE_COLUMNS: tuple[str, ...] = ("seed", "layer", "layer_index", "epoch", "clustering")


def _subtitle(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _estimators(df: pd.DataFrame, wanted: str | Sequence[str] | None) -> list[str]:
    """The estimators to draw: ``wanted`` (checked) or every estimator of ``df`` in table order."""
    available = [str(e) for e in pd.unique(df["estimator"].astype(str))]
    if wanted is None:
        return available
    chosen = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [e for e in chosen if e not in available]
    if missing:
        raise ValueError(f"estimator {missing[0]!r} is not in the table; it has {available}")
    return chosen


def _condition_data(mi: pd.DataFrame, conditions: Sequence[str | None]) -> tuple[dict[Any, _MIData], list[str]]:
    """Seed means per condition; conditions without an ok seed get no entry and a note."""
    data: dict[Any, _MIData] = {}
    notes = []
    for cond in conditions:
        rows = rows_of(mi, cond)
        bad = set(rows.loc[rows["status"] != "ok", "seed"])
        if set(rows["seed"]) <= bad:
            notes.append(f"{cond or 'The study'}: no seed whose rows are all ok (diverged or refused); "
                         "its panels are empty.")
            continue
        data[cond] = _mi_data(rows, None, None, None)
    if not data:
        raise ValueError("MI table: no condition has a seed whose rows are all ok; there is nothing to plot")
    return data, notes


# --------------------------------------------------------------------------------------------
# Information planes: conditions x estimators
# --------------------------------------------------------------------------------------------


def compression_grid_figure(
    mi: TableLike,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Build the grid of information planes (see :func:`compression_grid`)."""
    df, split = one_split(load_mi(mi))
    conditions = conditions_of(df)
    data, notes = _condition_data(df, conditions)
    estimators = _estimators(df, estimator)
    layers = layer_order(df)
    colours = layer_palette(layers)
    markers = {layer: MARKERS[i % len(MARKERS)] for i, layer in enumerate(layers)}
    for d in data.values():
        d.colours = colours
    norm = epoch_norm(df["epoch"].to_numpy())
    n_seeds = min(d.n_seeds for d in data.values())
    n_excluded = sum(d.n_excluded for d in data.values())
    notes += list(dict.fromkeys(d.not_drawn for d in data.values() if d.not_drawn))
    with style():
        rows, cols = len(conditions), len(estimators)
        fig, body = canvas((3.4 * cols + 1.4, 2.9 * rows + 1.3), notes)
        axes = body.subplots(rows, cols, squeeze=False, sharex="col", sharey=True)
        for r, cond in enumerate(conditions):
            for c, est in enumerate(estimators):
                ax = axes[r][c]
                if cond in data:
                    for layer in data[cond].layers:
                        _plane_layer(ax, data[cond], est, layer, markers[layer], norm)
                if r == 0:
                    ax.set_title(f"estimator: {est}")
                if c == 0:
                    ax.set_ylabel(f"{cond}\nI(T;Y) {BITS}" if cond else f"I(T;Y) {BITS}")
                if r == rows - 1:
                    ax.set_xlabel(f"I(X;T) {BITS}")
        plane_keys(body, axes.ravel().tolist(), layers, colours, markers, n_seeds, norm)
        heading = title or "Information plane per condition and estimator"
        suptitle(body, heading, _subtitle(seeds_phrase(n_seeds, n_excluded), split_subtitle(split)))
    return fig


def compression_grid(
    mi: TableLike,
    out_stem: OutSpec,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
) -> list[Path]:
    """Information planes side by side: one row per condition, one column per estimator.

    Each panel is I(X;T) (x) against I(T;Y) (y), bits, one trajectory per layer: the mean over
    the condition's ok seeds (seeds with a row that is not ok are left out, with a warning), ±1
    s.d. cross bars, points coloured by epoch on one symmetric-log scale (one colour bar). Panels
    of one estimator share their I(X;T) axis, so a condition that compresses (e.g. tanh under
    30 bins on [-1, 1], Shwartz-Ziv & Tishby 2017) and one that does not (ReLU, Saxe et al.
    2018) compare at a glance; estimators keep their own scale.

    Parameters
    ----------
    mi : DataFrame or path
        MI table (:data:`infoplane.tables.MI_COLUMNS`, bits); a sweep study's table (column
        ``condition``) gives one row per condition, any other table one row.
    out_stem : path or sequence of paths
        Output stem (``.png`` and ``.pdf`` are written) or explicit paths.
    estimator : str, sequence of str or None
        Estimators to draw, one column each (default: all, in table order).
    title : str, optional

    Returns
    -------
    list of Path
        The PNG and PDF written.
    """
    return save_figure(compression_grid_figure(mi, estimator=estimator, title=title), out_stem)


# --------------------------------------------------------------------------------------------
# Late drop of I(X;T) per layer
# --------------------------------------------------------------------------------------------


def _load_summary(summary: TableLike) -> tuple[pd.DataFrame, str | None]:
    df = load_table(summary, LATE_DROP_FIGURE_COLUMNS, "MI summary table (summary.csv)",
                    hint="; pass the study's summary.csv, not mi.csv",
                    dtype={"layer": str, "condition": str})
    numeric(df, ["layer_index", "n_seeds", "I_XT_late_drop_mean", "I_XT_late_drop_std"], "MI summary table")
    df["layer"] = df["layer"].astype(str)
    df["estimator"] = df["estimator"].astype(str)
    return one_split(df)


def _drop_bars(ax: plt.Axes, rows: pd.DataFrame, layers: Sequence[str], estimators: Sequence[str],
               colours: Mapping[str, Any], tag: str) -> None:
    """Grouped bars of one panel: one group per layer, one bar per estimator (mean ± s.d.)."""
    x = np.arange(len(layers))
    width = 0.8 / len(estimators)
    for j, est in enumerate(estimators):
        d = rows[rows["estimator"] == est].set_index("layer").reindex(layers)
        mean = d["I_XT_late_drop_mean"].to_numpy(dtype=float)
        std = d["I_XT_late_drop_std"].to_numpy(dtype=float)
        pos = x + (j - (len(estimators) - 1) / 2) * width
        ax.bar(pos, np.nan_to_num(mean), width * 0.92, color=colours[est], label=est,
               gid=f"bar:{tag}:{est}", zorder=2)
        if np.isfinite(std).any():
            ax.errorbar(pos, mean, yerr=std, fmt="none", ecolor="0.2", elinewidth=0.9, capsize=2, zorder=3)
    ax.axhline(0.0, color="0.3", lw=0.8, zorder=1)
    ax.set_xticks(x, [str(layer) for layer in layers])


def _missing_drops(df: pd.DataFrame) -> str:
    """A note naming the (condition, estimator, layer) rows without a late drop ('' if none)."""
    gaps = df[~np.isfinite(df["I_XT_late_drop_mean"].to_numpy(dtype=float))]
    if gaps.empty:
        return ""
    parts = [(f"{r['condition']} " if "condition" in r else "") + f"{r['estimator']} layer {r['layer']}"
             for r in gaps.to_dict("records")]
    return ("Drawn as 0, no value (no seed with an ok row at the last recorded epoch): "
            + "; ".join(parts) + ".")


def late_drop_figure(summary: TableLike, title: str | None = None) -> Figure:
    """Build the late-drop bar chart (see :func:`late_drop`)."""
    df, split = _load_summary(summary)
    conditions = conditions_of(df)
    estimators = _estimators(df, None)
    colours = estimator_palette(estimators)
    layers = layer_order(df)
    ncols = len(conditions) if len(conditions) <= 3 else min(3, math.ceil(math.sqrt(len(conditions))))
    nrows = math.ceil(len(conditions) / ncols)
    panel_w = max(2.8, 0.22 * len(layers) * len(estimators) + 1.0)
    notes = ["Late drop = peak of I(X;T) over the recorded epochs minus I(X;T) at the last "
             "recorded epoch, per seed; 0 = no compression after the peak.", _missing_drops(df)]
    with style():
        fig, body = canvas((panel_w * ncols + 0.8, 2.9 * nrows + 1.0), notes)
        axes = body.subplots(nrows, ncols, squeeze=False, sharey=True)
        for k, cond in enumerate(conditions):
            ax = axes[k // ncols][k % ncols]
            _drop_bars(ax, rows_of(df, cond), layers, estimators, colours, str(cond))
            if cond is not None:
                ax.set_title(cond)
            ax.set_xlabel("layer (network order)")
            if k % ncols == 0:
                ax.set_ylabel(f"late drop of I(X;T) {BITS}")
        for ax in axes.ravel()[len(conditions):]:
            ax.remove()
        handles, labels = collect_legend(axes.ravel()[:len(conditions)])
        body.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False,
                    title="estimator (error bars: ±1 s.d. over seeds)")
        n_lo, n_hi = int(df["n_seeds"].min()), int(df["n_seeds"].max())
        seeds = seeds_phrase(n_hi) if n_lo == n_hi else f"mean of {n_lo}-{n_hi} seeds"
        suptitle(body, title or "Late drop of I(X;T) per layer", _subtitle(seeds, split_subtitle(split)))
    return fig


def late_drop(summary: TableLike, out_stem: OutSpec, title: str | None = None) -> list[Path]:
    """Bar chart of the late drop of I(X;T) per layer, grouped by estimator, one panel per condition.

    The late drop is the peak of a seed's I(X;T) over the recorded epochs minus its value at
    the last recorded epoch (bits, >= 0): Shwartz-Ziv & Tishby's (2017) compression phase shows
    as a large drop, its absence (Saxe et al. 2018) as a drop near 0. Bars are the mean over
    seeds, error bars ±1 s.d. over seeds (none with one seed), read from the study's summary
    table; nothing is recomputed here.

    Parameters
    ----------
    summary : DataFrame or path
        The study's ``summary.csv`` (:data:`infoplane.tables.MI_SUMMARY_COLUMNS`; a sweep's has
        ``condition`` and the swept keys in front, one panel per condition).
    out_stem : path or sequence of paths
    title : str, optional

    Returns
    -------
    list of Path
        The PNG and PDF written.
    """
    return save_figure(late_drop_figure(summary, title=title), out_stem)


# --------------------------------------------------------------------------------------------
# I(X;T) beside the clustering score (Goldfeld et al. 2019)
# --------------------------------------------------------------------------------------------


def _load_geometry(geometry: TableLike, split: str | None) -> pd.DataFrame:
    df = load_table(geometry, CLUSTERING_FIGURE_COLUMNS, "geometry table (geometry.csv)",
                    dtype={"layer": str, "condition": str})
    numeric(df, ["seed", "layer_index", "epoch", "clustering"], "geometry table")
    df["layer"] = df["layer"].astype(str)
    df, _ = one_split(df, prefer=split)
    df = df[np.isfinite(df["clustering"].to_numpy(dtype=float))]
    if df.empty:
        raise ValueError("geometry table has no finite clustering score; the clustering figure needs one")
    return df


def clustering_stats(geometry: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, epoch): ``mean``, ``std`` (ddof=1) and ``count`` of the clustering score over
    seeds, sorted by epoch."""
    g = geometry.groupby(["layer", "epoch"])["clustering"]
    return g.agg(["mean", "std", "count"]).reset_index().sort_values(["layer", "epoch"], kind="stable")


def _clustering_panel(ax: plt.Axes, data: _MIData, stats: pd.DataFrame, layer: str,
                      colours: Mapping[str, Any], max_epoch: float) -> plt.Axes:
    """I(X;T) per estimator on ``ax`` and the clustering score on its twin; returns the twin."""
    for est in data.estimators:
        d = data.mean[(data.mean["estimator"] == est) & (data.mean["layer"] == layer)]
        if not d.empty:
            band(ax, d["epoch"], d["I_XT"], d["I_XT_err"], colours[est], lw=1.4, label=f"I(X;T), {est}",
                 gid=f"mi:{layer}:{est}")
    twin = ax.twinx()
    twin.spines["right"].set_visible(True)
    twin.tick_params(axis="x", which="both", bottom=False, labelbottom=False)  # the epoch axis is ax's
    s = stats[stats["layer"] == layer]
    band(twin, s["epoch"], s["mean"], s["std"], "0.15", lw=1.4, ls="--", label="clustering score",
         gid=f"clustering:{layer}")
    twin.grid(False)
    for a in (ax, twin):  # no "+1.199e1" offset text above a panel whose I(X;T) sits near log2 n
        a.ticklabel_format(axis="y", style="plain", useOffset=False)
    epoch_axis(ax, max_epoch)
    return twin


def clustering_figure(mi: TableLike, geometry: TableLike, title: str | None = None) -> Figure:
    """Build the figure of I(X;T) beside the clustering score (see :func:`clustering`)."""
    mi_df, split = one_split(load_mi(mi))
    geo = _load_geometry(geometry, split)
    if "condition" in geo.columns and "condition" not in mi_df.columns:
        raise ValueError("geometry table has a condition column but the MI table has none; pass the "
                         "same study's tables")
    conditions = conditions_of(mi_df) if "condition" in geo.columns else [None]
    data, notes = _condition_data(mi_df, conditions)
    layers = [layer for layer in layer_order(geo) if layer in set(mi_df["layer"])]
    if not layers:
        raise ValueError("the geometry table and the MI table have no layer in common")
    colours = estimator_palette(_estimators(mi_df, None))
    max_epoch = float(max(mi_df["epoch"].max(), geo["epoch"].max()))
    with style():
        rows, cols = len(conditions), len(layers)
        fig, body = canvas((3.3 * cols + 0.6, 2.7 * rows + 1.1), notes)
        axes = body.subplots(rows, cols, squeeze=False, sharex=True)
        twins = []
        for r, cond in enumerate(conditions):
            stats = clustering_stats(rows_of(geo, cond))
            for c, layer in enumerate(layers):
                ax = axes[r][c]
                if cond in data:
                    twins.append(_clustering_panel(ax, data[cond], stats, layer, colours, max_epoch))
                    if c == cols - 1:
                        twins[-1].set_ylabel("clustering score")
                ax.set_title(f"{cond}, {_layer_label(layer)}" if cond else _layer_label(layer))
                if c == 0:
                    ax.set_ylabel(f"I(X;T) {BITS}")
                if r < rows - 1:
                    ax.set_xlabel("")
        handles, labels = collect_legend([*axes.ravel(), *twins])
        body.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False,
                    title="mean over seeds (bands: ±1 s.d. over seeds)")
        n_seeds = min(d.n_seeds for d in data.values())
        suptitle(body, title or "Compression and clustering of the hidden representations",
                 _subtitle(seeds_phrase(n_seeds), split_subtitle(split)))
    return fig


def clustering(mi: TableLike, geometry: TableLike, out_stem: OutSpec, title: str | None = None) -> list[Path]:
    """I(X;T) against epoch beside the clustering score of the same layer (Goldfeld et al. 2019).

    One panel per layer (one row per condition of a sweep): I(X;T) of every estimator (bits,
    left axis; mean over ok seeds, bands ±1 s.d.) and, on the right axis, the clustering score
    of the layer's representations (dashed; mean over seeds, band ±1 s.d.), both against epoch
    on a symmetric-log axis. Goldfeld et al. (2019) argue that the compression seen by binning
    estimators is the clustering of the representations: then the two curves move together.

    Parameters
    ----------
    mi : DataFrame or path
        MI table (:data:`infoplane.tables.MI_COLUMNS`, bits).
    geometry : DataFrame or path
        The study's ``geometry.csv``: columns :data:`CLUSTERING_FIGURE_COLUMNS` (one row per
        seed, layer and epoch; ``split`` and ``condition`` optional, as in the MI table). Rows
        with a NaN clustering score are left out; a table with none raises ValueError.
    out_stem : path or sequence of paths
    title : str, optional

    Returns
    -------
    list of Path
        The PNG and PDF written.
    """
    return save_figure(clustering_figure(mi, geometry, title=title), out_stem)


# --------------------------------------------------------------------------------------------
# The figures a study asks for
# --------------------------------------------------------------------------------------------


def comparison_figures(
    names: Sequence[str],
    outdir: str | Path,
    mi: TableLike,
    summary: TableLike | None = None,
    geometry: TableLike | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write the named :data:`COMPARISON_FIGURES` as ``<outdir>/<name>.png`` and ``.pdf``.

    Parameters
    ----------
    names : sequence of str
        Figures to draw, each one of :data:`COMPARISON_FIGURES` (the workflow chooses them from
        the config).
    outdir : path
    mi, summary, geometry : DataFrame or path
        The study's ``mi.csv``, ``summary.csv`` (needed by ``late_drop``) and ``geometry.csv``
        (needed by ``clustering``).
    title : str, optional
        The study's name, put in front of each figure's title.

    Returns
    -------
    list of Path
        The written files, in the order of ``names``.

    Raises
    ------
    ValueError
        On an unknown name or a figure whose table is not given.
    """
    unknown = [n for n in names if n not in COMPARISON_FIGURES]
    if unknown:
        raise ValueError(f"unknown comparison figure {unknown[0]!r}; choose from {', '.join(COMPARISON_FIGURES)}")
    needs = {"late_drop": ("summary", summary), "clustering": ("geometry", geometry)}
    for name in names:
        if name in needs and needs[name][1] is None:
            raise ValueError(f"figure {name!r} needs the {needs[name][0]} table; none was given")
    prefix = f"{title}: " if title else ""
    draw: dict[str, Callable[[Path], list[Path]]] = {
        "compression_grid": lambda stem: compression_grid(
            mi, stem, title=prefix + "information plane per condition and estimator"),
        "late_drop": lambda stem: late_drop(summary, stem, title=prefix + "late drop of I(X;T) per layer"),
        "clustering": lambda stem: clustering(mi, geometry, stem, title=prefix + "compression and clustering"),
    }
    out = Path(outdir)
    return [path for name in names for path in draw[name](out / name)]
