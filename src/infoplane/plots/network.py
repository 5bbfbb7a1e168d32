"""Figures of a network study, from its MI table and its loss/accuracy table alone.

Information plane (Shwartz-Ziv & Tishby 2017: I(X;T) against I(T;Y), coloured by epoch), MI
against epoch, training curves, and the dynamics panel (Butakov et al. 2024: MI beside loss and
accuracy). MI is in bits on every axis. Epoch axes and the epoch colour scale are symmetric-log
(linear on [0, 1], logarithmic above) so the initialisation (epoch 0) stays on the figure.
Notes (smoothing, estimates left out) are written under the panels, never into the title.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from infoplane.plots.data import (
    TableLike,
    check_smoothing,
    figure_split,
    fmt_seed,
    layer_order,
    load_metrics,
    load_mi,
    mean_over_seeds,
    not_drawn_note,
    one_split,
    select_estimators,
    smooth,
    study_of,
)
from infoplane.plots.names import NETWORK_FIGURES
from infoplane.plots.sgd import sgd_phases
from infoplane.plots.style import (
    BITS,
    EPOCH_CMAP,
    MARKERS,
    OutSpec,
    band,
    canvas,
    epoch_axis,
    epoch_norm,
    epoch_ticks,
    g_format,
    layer_palette,
    save_figure,
    seeds_phrase,
    smoothing_phrase,
    style,
    suptitle,
)

_QUANTITY = {"I_XT": "I(X;T)", "I_TY": "I(T;Y)"}


def _error_kind(n_seeds: int) -> str:
    return "±1 s.d. over seeds" if n_seeds >= 2 else "±1 s.e. of the estimator"


def _layer_label(layer: str) -> str:
    return f"layer {layer}" if str(layer).isdigit() else str(layer)


@dataclass
class _MIData:
    """An MI table reduced to what the MI figures draw."""

    raw: pd.DataFrame  # the loaded table's rows of the drawn split, all seeds
    mean: pd.DataFrame  # seed means of the selected estimators (see mean_over_seeds)
    smoothed: pd.DataFrame | None
    smoothing: dict[str, int] | None
    estimators: list[str]
    layers: list[str]
    colours: dict[str, Any]
    n_seeds: int
    n_excluded: int
    not_drawn: str
    study: str | None
    split: str | None = "all"

    def notes(self) -> list[str]:
        return [smoothing_phrase(self.smoothing), self.not_drawn, split_phrase(self.split)]


def split_phrase(split: str | None) -> str:
    """The note naming the samples the MI was estimated on ('' for every sample)."""
    return "" if split in (None, "all") else f"MI estimated on the {split} samples only (analysis.split)."


def _mi_data(
    mi: TableLike,
    estimator: str | Sequence[str] | None,
    smoothing: Mapping[str, Any] | None,
    study: str | None,
    split: str | None = None,
) -> _MIData:
    smoothing = check_smoothing(smoothing)
    raw, split = one_split(load_mi(mi), split)
    mean, n_excluded = mean_over_seeds(raw, split)
    estimators = select_estimators(mean, estimator)
    masked = mean.attrs["not_drawn"]
    mean = mean[mean["estimator"].isin(estimators)]
    layers = layer_order(mean)
    return _MIData(
        raw=raw,
        mean=mean,
        smoothed=smooth(mean, smoothing["window"], smoothing["polyorder"]) if smoothing else None,
        smoothing=smoothing,
        estimators=estimators,
        layers=layers,
        colours=layer_palette(layers),
        n_seeds=int(mean["n_seeds"].max()),
        n_excluded=n_excluded,
        not_drawn=not_drawn_note(masked, estimators),
        study=study_of(raw, study),
        split=split,
    )


def _heading(title: str | None, default: str, study: str | None) -> str:
    if title is not None:
        return title
    return default + (f": {study}" if study else "")


# --------------------------------------------------------------------------------------------
# Information plane
# --------------------------------------------------------------------------------------------


def _plane_layer(ax: plt.Axes, data: _MIData, est: str, layer: str, marker: str, norm: Any) -> None:
    d = data.mean[(data.mean["estimator"] == est) & (data.mean["layer"] == layer)]
    if d.empty:
        return
    c = data.colours[layer]
    xerr = d["I_XT_err"].to_numpy(dtype=float)
    yerr = d["I_TY_err"].to_numpy(dtype=float)
    if np.isfinite(xerr).any() or np.isfinite(yerr).any():
        ax.errorbar(d["I_XT"], d["I_TY"], xerr=np.nan_to_num(xerr), yerr=np.nan_to_num(yerr),
                    fmt="none", ecolor=c, elinewidth=0.7, alpha=0.45, zorder=1)
    if data.smoothed is not None:
        s = data.smoothed[(data.smoothed["estimator"] == est) & (data.smoothed["layer"] == layer)]
        ax.plot(s["I_XT"], s["I_TY"], color=c, lw=1.8, zorder=3, gid=f"smooth:{layer}")
    else:
        ax.plot(d["I_XT"], d["I_TY"], color=c, lw=1.2, zorder=2, gid=f"line:{est}:{layer}")
    ax.scatter(d["I_XT"], d["I_TY"], c=d["epoch"], cmap=plt.get_cmap(EPOCH_CMAP), norm=norm,
               marker=marker, s=26, edgecolors=[c], linewidths=0.9,
               alpha=0.4 if data.smoothed is not None else 1.0, zorder=4, gid=f"raw:{est}:{layer}")


def plane_keys(body: FigureBase, axes: list[plt.Axes], layers: Sequence[str], colours: Mapping[str, Any],
               markers: Mapping[str, str], n_seeds: int, norm: Any) -> None:
    """The information plane's keys: the layer legend under ``body`` and the epoch colour bar
    beside ``axes``."""
    handles = [
        Line2D([], [], color=colours[layer], marker=markers[layer], markerfacecolor="white",
               markeredgecolor=colours[layer], lw=1.4, label=_layer_label(layer))
        for layer in layers
    ]
    _bottom_legend(body, handles, [str(h.get_label()) for h in handles],
                   f"layer (error bars: {_error_kind(n_seeds)})")
    cbar = body.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=EPOCH_CMAP), ax=axes, shrink=0.9, pad=0.02)
    cbar.set_ticks(epoch_ticks(float(norm.vmax or 1.0)))
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(g_format))
    cbar.set_label("epoch (symlog scale)")


def information_plane_figure(
    mi: TableLike,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
    split: str | None = None,
) -> Figure:
    """Build the information-plane figure (see :func:`information_plane`)."""
    data = _mi_data(mi, estimator, smoothing, study, split)
    markers = {layer: MARKERS[i % len(MARKERS)] for i, layer in enumerate(data.layers)}
    norm = epoch_norm(data.mean["epoch"].to_numpy())
    with style():
        n = len(data.estimators)
        fig, body = canvas((3.8 * n + 1.3, 4.4), data.notes())
        axes = body.subplots(1, n, squeeze=False)
        for ax, est in zip(axes[0], data.estimators, strict=True):
            for layer in data.layers:
                _plane_layer(ax, data, est, layer, markers[layer], norm)
            ax.set_xlabel(f"I(X;T) {BITS}")
            ax.set_ylabel(f"I(T;Y) {BITS}")
            ax.set_title(f"estimator: {est}")
        plane_keys(body, list(axes[0]), data.layers, data.colours, markers, data.n_seeds, norm)
        suptitle(body, _heading(title, "Information plane", data.study),
                 seeds_phrase(data.n_seeds, data.n_excluded))
    return fig


def information_plane(
    mi: TableLike,
    out_stem: OutSpec,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
    split: str | None = None,
) -> list[Path]:
    """Information plane: I(X;T) against I(T;Y), one trajectory per layer.

    Each layer's trajectory is the mean over the seeds whose status is ok (diverged seeds are
    excluded with a warning, and the figure says so). Points are coloured by epoch on a
    symmetric-log colour scale (epoch 0 = initialisation kept), a line joins a layer's points
    in epoch order, and cross bars give ±1 across-seed standard deviation (or the estimator's
    standard error with a single seed). Several estimators give one panel each.

    Parameters
    ----------
    mi : DataFrame or path
        MI table (:data:`infoplane.tables.MI_COLUMNS`, bits).
    out_stem : path or sequence of paths
        Output stem (``.png`` and ``.pdf`` are written) or explicit paths.
    estimator : str, sequence of str or None
        Estimators to draw (default: all in the table, one panel each).
    title : str, optional
        Figure title; default ``"Information plane: <study>"``.
    smoothing : mapping, optional
        ``{"window": int, "polyorder": int}``: draw a Savitzky-Golay smoothed trajectory on top
        of the raw points (which are then drawn faintly). See :func:`infoplane.plots.smooth`.
    study : str, optional
        Study name for the title (default: the table's ``study`` column if it has one value).
    split : str, optional
        The split whose rows are drawn (column ``split``); default ``all`` when the table has
        it, else its first split (:func:`infoplane.plots.data.figure_split`). A split other
        than ``all`` is named in a note under the panels.

    Returns
    -------
    list of Path
        The PNG and PDF written.
    """
    fig = information_plane_figure(mi, estimator=estimator, title=title, smoothing=smoothing,
                                   study=study, split=split)
    return save_figure(fig, out_stem)


# --------------------------------------------------------------------------------------------
# MI against epoch
# --------------------------------------------------------------------------------------------


def _draw_mi_epoch(ax: plt.Axes, data: _MIData, est: str, quantity: str, max_epoch: float) -> None:
    """One line (with its error band) and the raw means per layer of ``quantity`` against epoch."""
    sub = data.mean[data.mean["estimator"] == est]
    for layer in data.layers:
        d = sub[sub["layer"] == layer]
        if d.empty:
            continue
        c = data.colours[layer]
        line = d
        if data.smoothed is not None:
            line = data.smoothed[(data.smoothed["estimator"] == est) & (data.smoothed["layer"] == layer)]
        band(ax, line["epoch"], line[quantity], d[f"{quantity}_err"], c,
             lw=1.6 if data.smoothed is not None else 1.3, label=_layer_label(layer),
             gid=f"line:{est}:{layer}:{quantity}")
        ax.scatter(d["epoch"], d[quantity], color=c, s=16 if data.smoothed is not None else 9,
                   alpha=0.5 if data.smoothed is not None else 1.0, lw=0, zorder=3,
                   gid=f"raw:{est}:{layer}:{quantity}")
    epoch_axis(ax, max_epoch)
    ax.set_ylabel(f"{_QUANTITY[quantity]} {BITS}")


def mi_vs_epoch_figure(
    mi: TableLike,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
    split: str | None = None,
) -> Figure:
    """Build the MI-against-epoch figure (see :func:`mi_vs_epoch`)."""
    data = _mi_data(mi, estimator, smoothing, study, split)
    max_epoch = float(data.mean["epoch"].max())
    with style():
        n = len(data.estimators)
        fig, body = canvas((7.2, 2.9 * n + 0.5), data.notes())
        axes = body.subplots(n, 2, squeeze=False, sharex=True)
        for row, est in zip(axes, data.estimators, strict=True):
            for ax, q in zip(row, ("I_XT", "I_TY"), strict=True):
                _draw_mi_epoch(ax, data, est, q, max_epoch)
                ax.set_title(f"{_QUANTITY[q]}, estimator: {est}")
        for ax in axes[:-1].flat:  # shared epoch axis: label only the bottom row
            ax.set_xlabel("")
        handles, labels = axes[0][0].get_legend_handles_labels()
        _bottom_legend(body, handles, labels, f"layer (bands: {_error_kind(data.n_seeds)})")
        suptitle(body, _heading(title, "MI during training", data.study),
                 seeds_phrase(data.n_seeds, data.n_excluded))
    return fig


def mi_vs_epoch(
    mi: TableLike,
    out_stem: OutSpec,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
    split: str | None = None,
) -> list[Path]:
    """I(X;T) and I(T;Y) against epoch, one line per layer (two panels per estimator).

    Lines are the mean over ok seeds, bands ±1 across-seed standard deviation (or the
    estimator's standard error with one seed); the epoch axis is symmetric-log so epoch 0 is
    shown. With ``smoothing`` the line is Savitzky-Golay smoothed and the raw means are kept as
    faint dots. Parameters and return value as :func:`information_plane`.
    """
    fig = mi_vs_epoch_figure(mi, estimator=estimator, title=title, smoothing=smoothing, study=study,
                             split=split)
    return save_figure(fig, out_stem)


# --------------------------------------------------------------------------------------------
# Training curves and the dynamics panel
# --------------------------------------------------------------------------------------------

_SPLIT_STYLE = {"train": {"ls": "-"}, "eval": {"ls": "--"}}


def metric_stats(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: ``<split>_<loss|acc>_mean`` and ``_std`` (ddof=1) over the table's seeds."""
    cols = ["train_loss", "train_acc", "eval_loss", "eval_acc"]
    g = metrics.groupby("epoch")[cols]
    stats = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_std"))
    return stats.reset_index().sort_values("epoch")


def _draw_metric(ax: plt.Axes, stats: pd.DataFrame, kind: str, max_epoch: float) -> None:
    colours = sns.color_palette("dark", 2)
    for i, split in enumerate(("train", "eval")):
        col = f"{split}_{kind}"
        band(ax, stats["epoch"], stats[f"{col}_mean"], stats[f"{col}_std"], colours[i], lw=1.4,
             label=split, gid=f"metric:{col}", **_SPLIT_STYLE[split])
    epoch_axis(ax, max_epoch)
    if kind == "loss":
        ax.set_ylabel("loss [nats]")
        ax.set_title("Cross-entropy loss")
    else:
        ax.set_ylabel("accuracy")
        ax.set_title("Accuracy (fraction correct)")


def _bottom_legend(fig: FigureBase, handles: list[Any], labels: list[str], title: str | None) -> None:
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False,
               title=title)


def training_curves_figure(
    metrics: TableLike, title: str | None = None, study: str | None = None
) -> Figure:
    """Build the training-curves figure (see :func:`training_curves`)."""
    df = load_metrics(metrics)
    study = study_of(df, study)
    stats = metric_stats(df)
    n_seeds = int(df["seed"].nunique())
    max_epoch = float(df["epoch"].max())
    with style():
        fig, _ = canvas((7.2, 3.0))
        axes = fig.subplots(1, 2, sharex=True)
        _draw_metric(axes[0], stats, "loss", max_epoch)
        _draw_metric(axes[1], stats, "acc", max_epoch)
        handles, labels = axes[1].get_legend_handles_labels()
        _bottom_legend(fig, handles, [f"{lab} split" for lab in labels],
                       "bands: ±1 s.d. over seeds" if n_seeds >= 2 else None)
        suptitle(fig, _heading(title, "Training curves", study), seeds_phrase(n_seeds))
    return fig


def training_curves(
    metrics: TableLike, out_stem: OutSpec, title: str | None = None, study: str | None = None
) -> list[Path]:
    """Loss and accuracy against epoch for train and eval splits, mean ± s.d. over seeds.

    Non-finite losses (a diverged run) are dropped, not plotted.

    Parameters
    ----------
    metrics : DataFrame or path
        Metrics table (:data:`infoplane.tables.METRIC_COLUMNS`); loss in nats (cross-entropy),
        accuracy in [0, 1].
    out_stem : path or sequence of paths
        Output stem or explicit ``.png``/``.pdf`` paths.
    title, study : str, optional
        Figure title, or the study name used in the default title.

    Returns
    -------
    list of Path
    """
    return save_figure(training_curves_figure(metrics, title=title, study=study), out_stem)


def _one_estimator(raw_mi: pd.DataFrame, estimator: str | None) -> str:
    if estimator is not None:
        return estimator
    available = sorted(raw_mi["estimator"].unique())
    if len(available) > 1:
        raise ValueError(
            f"the MI table holds several estimators {available}; pass estimator= to choose one"
        )
    return available[0]


def ok_metrics(raw_mi: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``metrics`` of the seeds the MI mean uses (no row of the seed is not ok)."""
    ok_seeds = set(raw_mi["seed"]) - set(raw_mi.loc[raw_mi["status"] != "ok", "seed"])
    met_ok = metrics[metrics["seed"].isin(ok_seeds)]
    if met_ok.empty:
        raise ValueError(
            f"metrics table has no rows for the ok seeds {sorted(map(fmt_seed, ok_seeds))} "
            "of the MI table"
        )
    return met_ok


def dynamics_panel_figure(
    mi: TableLike,
    metrics: TableLike,
    estimator: str | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
    split: str | None = None,
) -> Figure:
    """Build the dynamics panel (see :func:`dynamics_panel`)."""
    met = load_metrics(metrics)
    raw = load_mi(mi)
    estimator = _one_estimator(raw, estimator)
    data = _mi_data(raw, estimator, smoothing, study, split)
    met_ok = ok_metrics(data.raw, met)
    stats = metric_stats(met_ok)
    max_epoch = float(max(data.mean["epoch"].max(), met_ok["epoch"].max()))
    with style():
        fig, body = canvas((11.0, 3.2), data.notes())
        axes = body.subplots(1, 4, sharex=True)
        for ax, q in zip(axes[:2], ("I_XT", "I_TY"), strict=True):
            _draw_mi_epoch(ax, data, estimator, q, max_epoch)
            ax.set_title(f"{_QUANTITY[q]} ({estimator})")
        _draw_metric(axes[2], stats, "loss", max_epoch)
        _draw_metric(axes[3], stats, "acc", max_epoch)
        h_layers, l_layers = axes[0].get_legend_handles_labels()
        h_split, l_split = axes[3].get_legend_handles_labels()
        _bottom_legend(body, h_layers + h_split, l_layers + [f"{lab} split" for lab in l_split],
                       f"MI: mean per layer; loss and accuracy: train/eval (bands: "
                       f"{_error_kind(data.n_seeds)})")
        heading = _heading(title, "Training dynamics", data.study)
        suptitle(body, heading, f"estimator {estimator}; {seeds_phrase(data.n_seeds, data.n_excluded)}")
    return fig


def dynamics_panel(
    mi: TableLike,
    metrics: TableLike,
    out_stem: OutSpec,
    estimator: str | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
    split: str | None = None,
) -> list[Path]:
    """MI dynamics beside loss and accuracy (Butakov et al. 2024 style), sharing the epoch axis.

    One row of four panels: I(X;T) and I(T;Y) per layer against epoch, then loss and accuracy
    (train and eval). Seeds excluded from the MI mean (diverged) are excluded from the metric
    curves too, so both halves describe the same runs. Notes (smoothing, estimates left out of
    the drawn estimator) are written under the panels.

    Parameters
    ----------
    mi, metrics : DataFrame or path
        MI table (:data:`infoplane.tables.MI_COLUMNS`) and metrics table
        (:data:`infoplane.tables.METRIC_COLUMNS`).
    out_stem : path or sequence of paths
    estimator : str, optional
        Required when the MI table holds more than one estimator.
    title, smoothing, study, split
        As :func:`information_plane`.

    Returns
    -------
    list of Path
    """
    fig = dynamics_panel_figure(mi, metrics, estimator=estimator, title=title, smoothing=smoothing,
                                study=study, split=split)
    return save_figure(fig, out_stem)


# --------------------------------------------------------------------------------------------
# All figures of a network study
# --------------------------------------------------------------------------------------------


def network_figures(
    mi: TableLike, metrics: TableLike, outdir: str | Path, cfg: Mapping[str, Any], sgd: TableLike | None = None
) -> list[Path]:
    """Write the :data:`NETWORK_FIGURES` of a network study as PNG and PDF under ``outdir``.

    Parameters
    ----------
    mi, metrics : DataFrame or path
        The study's MI table (``mi.csv``, bits) and loss/accuracy table (``metrics.csv``).
    outdir : path
        Figure directory (created).
    cfg : mapping
        The validated study config; reads ``study`` (titles), ``estimators`` (panel order: the
        first is the study's primary estimator, the one the dynamics panel shows),
        ``figures.smoothing`` and ``analysis.split`` (the MI figures draw split ``all`` when
        the table has it, else the first split listed there).
    sgd : DataFrame or path, optional
        The study's SGD-diagnostics table (``sgd.csv``) for ``sgd_phases``; without it that
        figure is not drawn (and not in the returned list).

    Returns
    -------
    list of Path
        The written files, ``<outdir>/<name>.png`` and ``.pdf`` for each name of
        :data:`NETWORK_FIGURES`, in that order.
    """
    from infoplane.config import estimator_label

    mi_df = load_mi(mi)
    met_df = load_metrics(metrics)
    out = Path(outdir)
    title = str(cfg["study"])
    smoothing = cfg.get("figures", {}).get("smoothing")
    labels = [estimator_label(e) for e in cfg["estimators"]]
    order = [e for e in labels if e in set(mi_df["estimator"])] or None
    primary = labels[0]
    split = figure_split(mi_df, cfg.get("analysis", {}).get("split"))
    kw = {"title": title, "smoothing": smoothing, "split": split}
    draw = {
        "information_plane": lambda stem: information_plane(mi_df, stem, estimator=order, **kw),
        "mi_vs_epoch": lambda stem: mi_vs_epoch(mi_df, stem, estimator=order, **kw),
        "training_curves": lambda stem: training_curves(met_df, stem, title=title),
        "dynamics": lambda stem: dynamics_panel(mi_df, met_df, stem, estimator=primary, **kw),
        "sgd_phases": lambda stem: sgd_phases(sgd, stem, title=title) if sgd is not None else [],
    }
    return [path for name in NETWORK_FIGURES for path in draw[name](out / name)]
