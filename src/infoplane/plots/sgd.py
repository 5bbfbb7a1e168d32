"""The SGD-phases figure (Shwartz-Ziv & Tishby 2017, figure 4) from a study's ``sgd.csv``.

Per layer with weights, the norm of the mean weight gradient over an epoch's mini-batches
(``grad_mean``) and the norm of their elementwise standard deviation (``grad_std``) against the
epoch, both axes logarithmic (table: :data:`infoplane.tables.SGD_COLUMNS`, written by the
training; see :mod:`infoplane.training` for what the gradients are). Lines are the mean over
seeds, bands the spread over seeds (minimum to maximum), and a last panel shows every layer's
SNR = grad_mean / grad_std (ratio of the seed means) with the line SNR = 1.

The two phases. Shwartz-Ziv & Tishby call the early epochs, where the mean gradient dominates its
fluctuations (high SNR), the drift phase, and the later ones, where the fluctuations dominate
(low SNR), the diffusion phase. Here the transition epoch is defined reproducibly as **the first
recorded epoch >= 1 at which the SNR of the last hidden layer (the layer with weights just below
the output layer; the only layer of a network with one) is below 1**, i.e. where that panel's
seed-mean grad_mean curve falls below its grad_std curve (:func:`phase_transition`). Every panel
shades the drift phase (recorded epochs before it) and the diffusion phase (from it on) and marks
it with a vertical line; without a crossing the whole range is drift and the figure says so.
Epoch 0 (no training epoch, NaN gradients) is not drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from infoplane.plots.data import TableLike, as_text, load_table, numeric
from infoplane.plots.style import (
    OutSpec,
    canvas,
    layer_palette,
    save_figure,
    seeds_phrase,
    style,
    suptitle,
)
from infoplane.tables import SGD_COLUMNS

__all__ = ["load_sgd", "phase_transition", "sgd_phases", "sgd_phases_figure", "sgd_stats"]

_DRIFT_COLOUR, _DIFFUSION_COLOUR = "#fde0b2", "#cfe3f5"


def load_sgd(sgd: TableLike) -> pd.DataFrame:
    """The SGD-diagnostics table (:data:`infoplane.tables.SGD_COLUMNS`), columns checked and typed."""
    df = load_table(sgd, SGD_COLUMNS, "SGD-diagnostics table", dtype={"layer": str})
    numeric(df, [c for c in SGD_COLUMNS if c != "layer"], "SGD-diagnostics table")
    as_text(df, ["layer"])
    return df


def sgd_stats(sgd: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, epoch) over seeds, epochs >= 1 with finite gradients only: ``<q>_mean``,
    ``<q>_min``, ``<q>_max`` for q in grad_mean, grad_std, and ``snr`` = grad_mean_mean /
    grad_std_mean; sorted by (layer_index, epoch)."""
    ok = sgd[(sgd["epoch"] >= 1) & np.isfinite(sgd["grad_mean"]) & np.isfinite(sgd["grad_std"])]
    g = ok.groupby(["layer_index", "layer", "epoch"])[["grad_mean", "grad_std"]]
    stats = g.mean().add_suffix("_mean").join(g.min().add_suffix("_min")).join(g.max().add_suffix("_max"))
    stats = stats.reset_index().sort_values(["layer_index", "epoch"], kind="stable").reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        stats["snr"] = stats["grad_mean_mean"] / stats["grad_std_mean"]
    return stats


def phase_transition(stats: pd.DataFrame) -> tuple[str, float]:
    """(the layer it is read on, the transition epoch; NaN when SNR never falls below 1).

    The layer is the last hidden one: the second-highest ``layer_index`` (the highest is the
    output layer), or the only layer. The epoch is the first of its rows (epoch >= 1, from
    :func:`sgd_stats`) with ``snr < 1``.
    """
    indices = sorted(stats["layer_index"].unique())
    if not indices:
        raise ValueError("SGD-diagnostics table has no finite gradient statistics at an epoch >= 1")
    idx = indices[-2] if len(indices) >= 2 else indices[0]
    rows = stats[stats["layer_index"] == idx]
    below = rows.loc[rows["snr"] < 1, "epoch"]
    return str(rows["layer"].iloc[0]), float(below.min()) if len(below) else math.nan


def _shade(ax: plt.Axes, lo: float, hi: float, transition: float) -> None:
    if math.isnan(transition):
        ax.axvspan(lo, hi, color=_DRIFT_COLOUR, lw=0, zorder=0)
        return
    ax.axvspan(lo, transition, color=_DRIFT_COLOUR, lw=0, zorder=0, label="drift phase (SNR >= 1)")
    ax.axvspan(transition, hi, color=_DIFFUSION_COLOUR, lw=0, zorder=0, label="diffusion phase (SNR < 1)")
    ax.axvline(transition, color="0.3", lw=1.0, ls=":", zorder=1, label=f"transition: epoch {transition:g}")


def _draw_layer(ax: plt.Axes, rows: pd.DataFrame, colour: tuple[float, float, float]) -> None:
    for q, ls in (("grad_mean", "-"), ("grad_std", "--")):
        x = rows["epoch"].to_numpy(float)
        ax.plot(x, rows[f"{q}_mean"], color=colour, ls=ls, lw=1.4, label=q.replace("_", " "))
        lo, hi = rows[f"{q}_min"].to_numpy(float), rows[f"{q}_max"].to_numpy(float)
        ax.fill_between(x, np.where(lo > 0, lo, np.nan), hi, color=colour, alpha=0.18, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (log scale)")
    ax.set_ylabel("gradient norm")


def _draw_snr(ax: plt.Axes, stats: pd.DataFrame, palette: dict[str, tuple[float, float, float]]) -> None:
    for layer, rows in stats.groupby("layer", sort=False):
        snr = rows["snr"].to_numpy(float)
        ax.plot(rows["epoch"], np.where(snr > 0, snr, np.nan), color=palette[str(layer)], lw=1.2,
                label=f"layer {layer}")
    ax.axhline(1.0, color="0.2", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (log scale)")
    ax.set_ylabel("SNR = grad mean / grad std")
    ax.set_title("SNR per layer")
    lines = [line for line in ax.get_lines() if str(line.get_label()).startswith("layer ")]
    ax.legend(lines, [str(line.get_label()) for line in lines], fontsize="x-small", frameon=False)


def sgd_phases_figure(sgd: TableLike, title: str | None = None, study: str | None = None) -> plt.Figure:
    """Build the SGD-phases figure (see :func:`sgd_phases`)."""
    df = load_sgd(sgd)
    stats = sgd_stats(df)
    layer, transition = phase_transition(stats)
    layers = stats.drop_duplicates("layer_index")["layer"].tolist()
    palette = layer_palette(layers)
    lo, hi = float(stats["epoch"].min()), float(stats["epoch"].max())
    n_seeds = int(df["seed"].nunique())
    how = (f"transition = first recorded epoch at which SNR of the last hidden layer ({layer}) < 1: "
           + (f"epoch {transition:g}" if not math.isnan(transition) else
              "none within the recorded epochs (SNR >= 1 throughout: all drift)"))
    notes = [how + ". Lines: mean over seeds; bands: min to max over seeds; epoch 0 (no training "
             "epoch) not drawn. Gradients: the weight gradients of the mini-batches of each recorded "
             "training epoch (ibsgd's choice); norms are Frobenius norms."]
    n_panels = len(layers) + 1
    cols = min(n_panels, 4)
    rows_n = math.ceil(n_panels / cols)
    with style():
        fig, body = canvas((2.9 * cols, 2.5 * rows_n + 0.4), notes)
        axes = np.atleast_1d(body.subplots(rows_n, cols, squeeze=False)).ravel()
        for ax, name in zip(axes, layers, strict=False):
            rows = stats[stats["layer"] == name]
            _shade(ax, lo, hi, transition)
            _draw_layer(ax, rows, palette[name])
            ax.set_title(f"layer {name}" + (" (output)" if name == layers[-1] and len(layers) > 1 else ""))
        snr_ax = axes[len(layers)]
        _shade(snr_ax, lo, hi, transition)
        _draw_snr(snr_ax, stats, palette)
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        keep = [i for i, lab in enumerate(labels) if not lab.startswith("grad ")]
        handles = [handles[i] for i in keep] + [Line2D([], [], color="0.3", ls=ls) for ls in ("-", "--")]
        labels = [labels[i] for i in keep] + ["||mean gradient|| (grad_mean)", "||std of gradient|| (grad_std)"]
        body.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), frameon=False)
        heading = title or "SGD phases"
        if study and not title:
            heading += f": {study}"
        suptitle(body, f"{heading} - gradient mean and fluctuation per layer", seeds_phrase(n_seeds))
    return fig


def sgd_phases(sgd: TableLike, out_stem: OutSpec, title: str | None = None, study: str | None = None) -> list[Path]:
    """Gradient mean and standard-deviation norms per layer against epoch (log-log), with the
    drift and diffusion phases of Shwartz-Ziv & Tishby (2017, figure 4) shaded.

    Parameters
    ----------
    sgd : DataFrame or path
        SGD-diagnostics table (:data:`infoplane.tables.SGD_COLUMNS`; gradient norms in the units
        of the loss (nats) per unit weight, weight norms unitless).
    out_stem : path or sequence of paths
        Output stem or explicit ``.png``/``.pdf`` paths.
    title, study : str, optional
        Figure title, or the study name used in the default title.

    Returns
    -------
    list of Path

    Notes
    -----
    The transition epoch is the first recorded epoch >= 1 at which the SNR (seed-mean grad_mean /
    seed-mean grad_std) of the last hidden layer is below 1 (:func:`phase_transition`); the
    figure's note states it.
    """
    return save_figure(sgd_phases_figure(sgd, title=title, study=study), out_stem)
