"""Figures for information-plane studies, drawn from result tables alone.

Every function here reads tables (pandas DataFrames, or paths to CSV files) and never opens an
activation store, so every figure regenerates without retraining or re-estimating. Mutual
information is in **bits** on every axis. Each public ``<name>(table, out, ...)`` function saves
its figure as PNG (150 dpi) and PDF and returns the written paths; the matching
``<name>_figure(...)`` builder returns the :class:`matplotlib.figure.Figure` for notebooks and
tests.

Tables (see the MI table contract):

- MI table: ``seed, layer, layer_index, epoch, estimator, I_XT, I_TY, I_XT_se, I_TY_se, status,
  reason`` (bits; ``status`` is ``"ok"`` or ``"diverged"``).
- Metrics table: ``seed, epoch, train_loss, train_acc, eval_loss, eval_acc``.
- Estimator-validation table: ``distribution, dim, true_mi, n, seed, estimator, estimate`` (bits).
- Synthetic-images table: ``image, latent_dim, true_mi, n, seed, compression, estimator,
  estimate`` (bits).

Epoch axes and the epoch colour scale are *symmetric-log* (linear on [0, 1], logarithmic above),
so the initialisation (epoch 0) stays on the figure next to log-spaced recordings; the axis labels
say so. The figure styles follow Shwartz-Ziv & Tishby (2017, information plane coloured by epoch)
and Butakov et al. (2024, MI dynamics beside loss and accuracy, error bars per point).
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import Normalize, SymLogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter  # noqa: E402
from scipy.signal import savgol_filter  # noqa: E402

from infoplane.units import bits_to_nats, nats_to_bits  # noqa: E402

__all__ = [
    "MI_COLUMNS",
    "METRICS_COLUMNS",
    "VALIDATION_COLUMNS",
    "SYNTHETIC_IMAGES_COLUMNS",
    "mean_over_seeds",
    "smooth",
    "layer_palette",
    "save_figure",
    "information_plane",
    "information_plane_figure",
    "mi_vs_epoch",
    "mi_vs_epoch_figure",
    "training_curves",
    "training_curves_figure",
    "dynamics_panel",
    "dynamics_panel_figure",
    "estimator_validation",
    "estimator_validation_figure",
    "validation_summary",
    "synthetic_images",
    "synthetic_images_figure",
]

MI_COLUMNS: tuple[str, ...] = (
    "seed",
    "layer",
    "layer_index",
    "epoch",
    "estimator",
    "I_XT",
    "I_TY",
    "I_XT_se",
    "I_TY_se",
    "status",
    "reason",
)
METRICS_COLUMNS: tuple[str, ...] = (
    "seed",
    "epoch",
    "train_loss",
    "train_acc",
    "eval_loss",
    "eval_acc",
)
VALIDATION_COLUMNS: tuple[str, ...] = (
    "distribution",
    "dim",
    "true_mi",
    "n",
    "seed",
    "estimator",
    "estimate",
)
SYNTHETIC_IMAGES_COLUMNS: tuple[str, ...] = (
    "image",
    "latent_dim",
    "true_mi",
    "n",
    "seed",
    "compression",
    "estimator",
    "estimate",
)

TableLike = pd.DataFrame | str | Path
OutSpec = str | Path | Sequence[str | Path]

DPI = 150
_EPOCH_CMAP = "viridis"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
_KNOWN_ESTIMATORS = ("binning", "adaptive_binning", "kde", "ksg", "kl", "mine", "infonce")
_COMPRESSIONS = ("none", "pca", "ae", "latent")
_COMPRESSION_LABELS = {
    "none": "none (raw)",
    "pca": "PCA",
    "ae": "autoencoder",
    "latent": "true latent",
}
_RC = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "pdf.fonttype": 42,  # embed TrueType (journals reject Type 3 fonts)
    "ps.fonttype": 42,
    "savefig.dpi": DPI,
}
_BITS = "[bits]"


# --------------------------------------------------------------------------------------------
# Tables: loading and validation
# --------------------------------------------------------------------------------------------


def _load_table(table: TableLike, required: Sequence[str], name: str) -> pd.DataFrame:
    """Return a copy of ``table`` (a DataFrame or a CSV path) with the required columns checked.

    Raises
    ------
    ValueError
        If the table is empty or a required column is missing; the message names the column and
        the table (its file path when read from disk).
    """
    if isinstance(table, (str, Path)):
        path = Path(table)
        if not path.is_file():
            raise ValueError(f"{name} file {str(path)!r} does not exist")
        try:
            df = pd.read_csv(path)
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
            f"it has columns {list(map(str, df.columns))}"
        )
    if len(df) == 0:
        raise ValueError(f"{where} is empty (no rows)")
    return df


def _numeric(df: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Coerce ``columns`` to numbers in place; ValueError naming the column if that fails."""
    for col in columns:
        converted = pd.to_numeric(df[col], errors="coerce")
        bad = converted.isna() & df[col].notna()
        if bad.any():
            example = df.loc[bad, col].iloc[0]
            raise ValueError(f"{where}: column {col!r} must be numeric, found {example!r}")
        df[col] = converted


def _load_mi(mi: TableLike) -> pd.DataFrame:
    df = _load_table(mi, MI_COLUMNS, "MI table")
    _numeric(df, ["seed", "layer_index", "epoch", "I_XT", "I_TY", "I_XT_se", "I_TY_se"], "MI table")
    df["layer"] = df["layer"].astype(str)
    df["estimator"] = df["estimator"].astype(str)
    df["status"] = df["status"].astype(str)
    return df


def _load_metrics(metrics: TableLike) -> pd.DataFrame:
    df = _load_table(metrics, METRICS_COLUMNS, "metrics table")
    _numeric(df, list(METRICS_COLUMNS), "metrics table")
    # A diverged run logs inf/NaN losses: they are not data points.
    return df.replace([np.inf, -np.inf], np.nan)


# --------------------------------------------------------------------------------------------
# Aggregation and smoothing
# --------------------------------------------------------------------------------------------


def mean_over_seeds(mi: TableLike) -> tuple[pd.DataFrame, int]:
    """Average an MI table over the seeds whose runs are ok; never over diverged seeds.

    A seed is excluded entirely when any of its rows has ``status != "ok"`` (its training
    diverged), so every (layer, epoch) point of the mean is over the same seeds. A
    :class:`UserWarning` says how many seeds were excluded and why (their ``reason``).

    Parameters
    ----------
    mi : DataFrame or path
        MI table with the columns in :data:`MI_COLUMNS` (bits).

    Returns
    -------
    mean : DataFrame
        One row per (estimator, layer, layer_index, epoch), sorted by estimator, layer_index and
        epoch, with columns ``I_XT, I_TY`` (mean over ok seeds, bits), ``I_XT_std, I_TY_std``
        (across-seed standard deviation, ddof=1; NaN with one seed), ``I_XT_se, I_TY_se`` (mean
        of the estimators' per-seed standard errors; NaN when not available), ``I_XT_err,
        I_TY_err`` (the error drawn in figures: the across-seed std when there are at least two
        seeds, otherwise the estimator's standard error) and ``n_seeds``.
    n_excluded : int
        Number of seeds excluded because they are not ok.

    Raises
    ------
    ValueError
        On a missing column, an empty table, or when no seed is ok.
    """
    df = _load_mi(mi)
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
            details.append(f"seed {_fmt_seed(s)} ({why})")
        warnings.warn(
            f"excluded {len(bad_seeds)} of {len(all_seeds)} seeds from the mean because their "
            f"status is not 'ok': {', '.join(details)}",
            UserWarning,
            stacklevel=2,
        )
    ok = df[~df["seed"].isin(bad_seeds)]
    if ok.empty:
        raise ValueError(
            f"MI table: all {len(all_seeds)} seeds have status != 'ok'; there is nothing to plot"
        )
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
    note = _mask_impossible(out)
    if note:
        warnings.warn(note, UserWarning, stacklevel=2)
        out.attrs["not_drawn"] = note
    return out, len(bad_seeds)


#: A mean MI estimate below this (bits) is impossible (MI >= 0) beyond any estimator error we
#: state: the estimator failed on that layer (e.g. Kozachenko-Leonenko on a saturated softmax,
#: whose compressed codes sit on a few points). Figures leave it out and say so.
IMPOSSIBLE_BELOW_BITS = -0.5


def _mask_impossible(mean: pd.DataFrame) -> str:
    """Set mean estimates below :data:`IMPOSSIBLE_BELOW_BITS` (and their errors) to NaN in
    place; return a one-line note naming what was masked ('' when nothing was)."""
    parts = []
    for q in ("I_XT", "I_TY"):
        bad = mean[q] < IMPOSSIBLE_BELOW_BITS
        if not bad.any():
            continue
        for (est, layer), grp in mean[bad].groupby(["estimator", "layer"], sort=False):
            parts.append(f"{est} {q} of layer {layer} at {len(grp)} epoch{'s' if len(grp) != 1 else ''} "
                         f"(down to {grp[q].min():.1f})")
        mean.loc[bad, [q, f"{q}_std", f"{q}_se", f"{q}_err"]] = np.nan
    if not parts:
        return ""
    return (f"not drawn: estimates below {IMPOSSIBLE_BELOW_BITS:g} bits (MI cannot be negative; the "
            f"estimator failed there; the values stay in the MI table): " + "; ".join(parts))


def _fmt_seed(seed: Any) -> str:
    return str(int(seed)) if float(seed).is_integer() else str(seed)


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
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 3:
        raise ValueError(f"smoothing window must be an integer >= 3, got {window!r}")
    if window % 2 == 0:
        raise ValueError(f"smoothing window must be odd, got {window}")
    if (
        isinstance(polyorder, bool)
        or not isinstance(polyorder, (int, np.integer))
        or not 0 <= polyorder < window
    ):
        raise ValueError(
            f"smoothing polyorder must be an integer with 0 <= polyorder < window={window}, "
            f"got {polyorder!r}"
        )
    missing = [c for c in ("epoch", *columns) if c not in series_df.columns]
    if missing:
        raise ValueError(
            f"table to smooth is missing required column(s) {', '.join(map(repr, missing))}"
        )
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


def _check_smoothing(smoothing: Mapping[str, int] | None) -> dict[str, int] | None:
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


# --------------------------------------------------------------------------------------------
# Colours, scales, saving
# --------------------------------------------------------------------------------------------


def _layer_order(df: pd.DataFrame) -> list[str]:
    order = df[["layer", "layer_index"]].drop_duplicates().sort_values("layer_index", kind="stable")
    return list(dict.fromkeys(order["layer"].astype(str)))


def layer_palette(layers: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Colours for layers, given in network order (input side first).

    Layers get the colours of seaborn's colour-blind-safe palette in order, so the same
    architecture gets the same colours in every figure.
    """
    layers = list(dict.fromkeys(str(x) for x in layers))
    colours = sns.color_palette("colorblind", n_colors=max(len(layers), 1))
    return {layer: tuple(colours[i]) for i, layer in enumerate(layers)}


def _layer_label(layer: str) -> str:
    return f"layer {layer}" if str(layer).isdigit() else str(layer)


def _named_palette(names: Sequence[str], known: Sequence[str], palette: str) -> dict[str, Any]:
    """Fixed colours for known names (estimators, compressions), then the rest in order."""
    colours = sns.color_palette(palette, n_colors=10)
    ordered = list(known) + sorted(set(names) - set(known))
    return {n: colours[i % len(colours)] for i, n in enumerate(ordered) if n in set(names)}


def _epoch_norm(epochs: np.ndarray) -> Normalize:
    """Symmetric-log epoch colour scale: linear on [0, 1], logarithmic above."""
    vmax = max(float(np.nanmax(epochs)), 1.0)
    return SymLogNorm(linthresh=1.0, linscale=0.5, vmin=0.0, vmax=vmax, base=10)


def _epoch_ticks(vmax: float) -> list[float]:
    """0, 1, the powers of ten up to ``vmax``, and ``vmax`` itself when well clear of them."""
    ticks = [0.0, 1.0]
    p = 10.0
    while p <= vmax * 1.0001:
        ticks.append(p)
        p *= 10
    if vmax >= 2.5 * ticks[-1]:
        ticks.append(float(vmax))
    return ticks


def _epoch_axis(ax: plt.Axes, max_epoch: float, label: bool = True) -> None:
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
    ax.xaxis.set_major_locator(FixedLocator(_epoch_ticks(max_epoch)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(0, max(max_epoch, 1.0) * 1.15)
    if label:
        ax.set_xlabel("epoch (symlog scale)")


def _out_paths(out: OutSpec) -> list[Path]:
    """PNG and PDF paths from a stem, or explicit paths ending in .png / .pdf."""
    if isinstance(out, (str, Path)):
        stem = Path(out)
        if stem.suffix.lower() in (".png", ".pdf"):
            stem = stem.with_suffix("")
        return [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    paths = [Path(p) for p in out]
    if not paths:
        raise ValueError("no output paths given")
    for p in paths:
        if p.suffix.lower() not in (".png", ".pdf"):
            raise ValueError(f"output path {str(p)!r} must end in .png or .pdf")
    return paths


def save_figure(fig: Figure, out: OutSpec) -> list[Path]:
    """Save ``fig`` and close it.

    Parameters
    ----------
    fig : Figure
    out : path or sequence of paths
        A stem (``results/x/plane`` -> ``plane.png`` and ``plane.pdf``; a ``.png``/``.pdf``
        suffix is replaced), or explicit paths each ending in ``.png`` or ``.pdf``.

    Returns
    -------
    list of Path
        The written files. PNGs are 150 dpi; PDFs embed TrueType fonts and carry no creation
        date, so re-running gives identical files.
    """
    paths = _out_paths(out)
    try:
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.suffix.lower() == ".pdf":
                fig.savefig(p, format="pdf", metadata={"CreationDate": None}, bbox_inches="tight", pad_inches=0.05)
            else:
                fig.savefig(p, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(fig)
    return paths


@contextmanager
def _style() -> Iterator[None]:
    with sns.axes_style("ticks"), matplotlib.rc_context(_RC):
        yield


def _suptitle(
    fig: Figure,
    title: str | None,
    n_seeds: int,
    n_excluded: int,
    smoothing: Mapping[str, int] | None = None,
    not_drawn: str | None = None,
) -> None:
    note = f"mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if n_excluded:
        note += f"; {n_excluded} diverged seed{'s' if n_excluded != 1 else ''} excluded"
    if smoothing:
        note += (
            f"; lines Savitzky-Golay smoothed (window {smoothing['window']}, "
            f"order {smoothing['polyorder']}), faint markers raw"
        )
    if not_drawn:
        note += f"; {not_drawn}"
    width_chars = max(40, int(fig.get_figwidth() * 11))
    note = "\n".join(textwrap.wrap(note, width_chars))
    fig.suptitle(f"{title}\n{note}" if title else note)


def _study_of(df: pd.DataFrame, study: str | None) -> str | None:
    if study is not None:
        return study
    if "study" in df.columns and df["study"].nunique() == 1:
        return str(df["study"].iloc[0])
    return None


def _select_estimators(df: pd.DataFrame, estimator: str | Sequence[str] | None) -> list[str]:
    available = sorted(df["estimator"].unique())
    if estimator is None:
        return available
    wanted = [estimator] if isinstance(estimator, str) else list(estimator)
    for e in wanted:
        if e not in available:
            raise ValueError(f"estimator {e!r} is not in the MI table; it has {available}")
    return wanted


def _error_kind(n_seeds: int) -> str:
    return "±1 s.d. over seeds" if n_seeds >= 2 else "±1 s.e. of the estimator"


def _band(ax: plt.Axes, x, mean, err, colour, **line_kw) -> None:
    """Line with a shaded ±err band (band skipped where err is NaN)."""
    x = np.asarray(x, dtype=float)
    mean = np.asarray(mean, dtype=float)
    err = np.asarray(err, dtype=float)
    ax.plot(x, mean, color=colour, **line_kw)
    if np.isfinite(err).any():
        ax.fill_between(
            x,
            mean - err,
            mean + err,
            where=np.isfinite(err),
            color=colour,
            alpha=0.2,
            lw=0,
            interpolate=False,
        )


# --------------------------------------------------------------------------------------------
# Information plane
# --------------------------------------------------------------------------------------------


def information_plane_figure(
    mi: TableLike,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
) -> Figure:
    """Build the information-plane figure (see :func:`information_plane`)."""
    smoothing = _check_smoothing(smoothing)
    raw = _load_mi(mi)
    study = _study_of(raw, study)
    mean, n_excluded = mean_over_seeds(raw)
    not_drawn = mean.attrs.get("not_drawn")
    estimators = _select_estimators(mean, estimator)
    mean = mean[mean["estimator"].isin(estimators)]
    layers = _layer_order(mean)
    colours = layer_palette(layers)
    markers = {layer: _MARKERS[i % len(_MARKERS)] for i, layer in enumerate(layers)}
    norm = _epoch_norm(mean["epoch"].to_numpy())
    cmap = plt.get_cmap(_EPOCH_CMAP)
    n_seeds = int(mean["n_seeds"].max())
    smoothed = smooth(mean, **smoothing) if smoothing else None

    with _style():
        n = len(estimators)
        fig, axes = plt.subplots(
            1, n, figsize=(3.8 * n + 1.3, 4.4), squeeze=False, layout="constrained"
        )
        for ax, est in zip(axes[0], estimators):
            sub = mean[mean["estimator"] == est]
            for layer in layers:
                d = sub[sub["layer"] == layer]
                if d.empty:
                    continue
                c = colours[layer]
                xerr = d["I_XT_err"].to_numpy(dtype=float)
                yerr = d["I_TY_err"].to_numpy(dtype=float)
                if np.isfinite(xerr).any() or np.isfinite(yerr).any():
                    ax.errorbar(
                        d["I_XT"],
                        d["I_TY"],
                        xerr=np.nan_to_num(xerr),
                        yerr=np.nan_to_num(yerr),
                        fmt="none",
                        ecolor=c,
                        elinewidth=0.7,
                        alpha=0.45,
                        zorder=1,
                    )
                if smoothed is not None:
                    s = smoothed[(smoothed["estimator"] == est) & (smoothed["layer"] == layer)]
                    ax.plot(s["I_XT"], s["I_TY"], color=c, lw=1.8, zorder=3, gid=f"smooth:{layer}")
                else:
                    ax.plot(d["I_XT"], d["I_TY"], color=c, lw=1.2, zorder=2)
                ax.scatter(
                    d["I_XT"],
                    d["I_TY"],
                    c=d["epoch"],
                    cmap=cmap,
                    norm=norm,
                    marker=markers[layer],
                    s=26,
                    edgecolors=[c],
                    linewidths=0.9,
                    alpha=0.4 if smoothed is not None else 1.0,
                    zorder=4,
                    gid=f"raw:{est}:{layer}",
                )
            ax.set_xlabel(f"I(X;T) {_BITS}")
            ax.set_ylabel(f"I(T;Y) {_BITS}")
            ax.set_title(f"estimator: {est}")
        handles = [
            Line2D(
                [],
                [],
                color=colours[layer],
                marker=markers[layer],
                markerfacecolor="white",
                markeredgecolor=colours[layer],
                lw=1.4,
                label=_layer_label(layer),
            )
            for layer in layers
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(len(handles) + 1, 4),
            title=f"layer (error bars: {_error_kind(n_seeds)})",
            frameon=False,
        )
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cbar = fig.colorbar(sm, ax=list(axes[0]), shrink=0.9, pad=0.02)
        cbar.set_ticks(_epoch_ticks(norm.vmax))
        cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        cbar.set_label("epoch (symlog scale)")
        heading = "Information plane" + (f": {study}" if study else "")
        if title is not None:
            heading = title
        _suptitle(fig, heading, n_seeds, n_excluded, smoothing, not_drawn)
    return fig


def information_plane(
    mi: TableLike,
    out_stem: OutSpec,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
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
        MI table (:data:`MI_COLUMNS`, bits).
    out_stem : path or sequence of paths
        Output stem (``.png`` and ``.pdf`` are written) or explicit paths.
    estimator : str, sequence of str or None
        Estimators to draw (default: all in the table, one panel each).
    title : str, optional
        Figure title; default ``"Information plane: <study>"``.
    smoothing : mapping, optional
        ``{"window": int, "polyorder": int}``: draw a Savitzky-Golay smoothed trajectory on top
        of the raw points (which are then drawn faintly). See :func:`smooth`.
    study : str, optional
        Study name for the title (default: the table's ``study`` column if it has one value).

    Returns
    -------
    list of Path
        The PNG and PDF written.
    """
    fig = information_plane_figure(
        mi, estimator=estimator, title=title, smoothing=smoothing, study=study
    )
    return save_figure(fig, out_stem)


# --------------------------------------------------------------------------------------------
# MI against epoch
# --------------------------------------------------------------------------------------------


def _draw_mi_epoch(
    ax: plt.Axes,
    sub: pd.DataFrame,
    smoothed: pd.DataFrame | None,
    quantity: str,
    layers: list[str],
    colours: Mapping[str, Any],
    max_epoch: float,
    est: str,
) -> None:
    for layer in layers:
        d = sub[sub["layer"] == layer]
        if d.empty:
            continue
        c = colours[layer]
        if smoothed is not None:
            s = smoothed[(smoothed["estimator"] == est) & (smoothed["layer"] == layer)]
            _band(
                ax,
                s["epoch"],
                s[quantity],
                d[f"{quantity}_err"],
                c,
                lw=1.6,
                label=_layer_label(layer),
            )
            ax.scatter(
                d["epoch"],
                d[quantity],
                color=c,
                s=16,
                alpha=0.5,
                lw=0,
                zorder=3,
                gid=f"raw:{est}:{layer}:{quantity}",
            )
        else:
            _band(
                ax,
                d["epoch"],
                d[quantity],
                d[f"{quantity}_err"],
                c,
                lw=1.3,
                label=_layer_label(layer),
            )
            ax.scatter(
                d["epoch"],
                d[quantity],
                color=c,
                s=9,
                lw=0,
                zorder=3,
                gid=f"raw:{est}:{layer}:{quantity}",
            )
    _epoch_axis(ax, max_epoch)
    name = "I(X;T)" if quantity == "I_XT" else "I(T;Y)"
    ax.set_ylabel(f"{name} {_BITS}")


def mi_vs_epoch_figure(
    mi: TableLike,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
) -> Figure:
    """Build the MI-against-epoch figure (see :func:`mi_vs_epoch`)."""
    smoothing = _check_smoothing(smoothing)
    raw = _load_mi(mi)
    study = _study_of(raw, study)
    mean, n_excluded = mean_over_seeds(raw)
    not_drawn = mean.attrs.get("not_drawn")
    estimators = _select_estimators(mean, estimator)
    mean = mean[mean["estimator"].isin(estimators)]
    layers = _layer_order(mean)
    colours = layer_palette(layers)
    max_epoch = float(mean["epoch"].max())
    n_seeds = int(mean["n_seeds"].max())
    smoothed = smooth(mean, **smoothing) if smoothing else None
    with _style():
        n = len(estimators)
        fig, axes = plt.subplots(
            n, 2, figsize=(7.2, 2.9 * n + 0.5), squeeze=False, layout="constrained", sharex=True
        )
        for row, est in zip(axes, estimators):
            sub = mean[mean["estimator"] == est]
            for ax, q in zip(row, ("I_XT", "I_TY")):
                _draw_mi_epoch(ax, sub, smoothed, q, layers, colours, max_epoch, est)
                ax.set_title(f"{'I(X;T)' if q == 'I_XT' else 'I(T;Y)'} — estimator: {est}")
        for ax in axes[:-1].flat:  # shared epoch axis: label only the bottom row
            ax.set_xlabel("")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=min(len(labels), 4),
            frameon=False,
            title=f"layer (bands: {_error_kind(n_seeds)})",
        )
        heading = (
            title if title is not None else "MI during training" + (f": {study}" if study else "")
        )
        _suptitle(fig, heading, n_seeds, n_excluded, smoothing, not_drawn)
    return fig


def mi_vs_epoch(
    mi: TableLike,
    out_stem: OutSpec,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
) -> list[Path]:
    """I(X;T) and I(T;Y) against epoch, one line per layer (two panels per estimator).

    Lines are the mean over ok seeds, bands ±1 across-seed standard deviation (or the
    estimator's standard error with one seed); the epoch axis is symmetric-log so epoch 0 is
    shown. With ``smoothing`` the line is Savitzky-Golay smoothed and the raw means are kept as
    faint dots. Parameters and return value as :func:`information_plane`.
    """
    fig = mi_vs_epoch_figure(mi, estimator=estimator, title=title, smoothing=smoothing, study=study)
    return save_figure(fig, out_stem)


# --------------------------------------------------------------------------------------------
# Training curves and the dynamics panel
# --------------------------------------------------------------------------------------------

_SPLIT_STYLE = {"train": {"ls": "-"}, "eval": {"ls": "--"}}


def _metric_stats(metrics: pd.DataFrame) -> pd.DataFrame:
    cols = ["train_loss", "train_acc", "eval_loss", "eval_acc"]
    g = metrics.groupby("epoch")[cols]
    stats = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_std"))
    return stats.reset_index().sort_values("epoch")


def _draw_metric(ax: plt.Axes, stats: pd.DataFrame, kind: str, max_epoch: float) -> None:
    colours = sns.color_palette("dark", 2)
    for i, split in enumerate(("train", "eval")):
        col = f"{split}_{kind}"
        _band(
            ax,
            stats["epoch"],
            stats[f"{col}_mean"],
            stats[f"{col}_std"],
            colours[i],
            lw=1.4,
            label=split,
            **_SPLIT_STYLE[split],
        )
    _epoch_axis(ax, max_epoch)
    if kind == "loss":
        ax.set_ylabel("loss [nats] (cross-entropy)")
        ax.set_title("Loss")
    else:
        ax.set_ylabel("accuracy (fraction correct)")
        ax.set_title("Accuracy")


def training_curves_figure(
    metrics: TableLike, title: str | None = None, study: str | None = None
) -> Figure:
    """Build the training-curves figure (see :func:`training_curves`)."""
    df = _load_metrics(metrics)
    study = _study_of(df, study)
    stats = _metric_stats(df)
    n_seeds = int(df["seed"].nunique())
    max_epoch = float(df["epoch"].max())
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0), layout="constrained", sharex=True)
        _draw_metric(axes[0], stats, "loss", max_epoch)
        _draw_metric(axes[1], stats, "acc", max_epoch)
        handles, labels = axes[1].get_legend_handles_labels()
        fig.legend(
            handles,
            [f"{lab} split" for lab in labels],
            loc="outside lower center",
            ncol=min(len(labels), 4),
            frameon=False,
            title="bands: ±1 s.d. over seeds" if n_seeds >= 2 else None,
        )
        heading = (
            title if title is not None else "Training curves" + (f": {study}" if study else "")
        )
        _suptitle(fig, heading, n_seeds, 0)
    return fig


def training_curves(
    metrics: TableLike, out_stem: OutSpec, title: str | None = None, study: str | None = None
) -> list[Path]:
    """Loss and accuracy against epoch for train and eval splits, mean ± s.d. over seeds.

    Non-finite losses (a diverged run) are dropped, not plotted.

    Parameters
    ----------
    metrics : DataFrame or path
        Metrics table (:data:`METRICS_COLUMNS`); loss in nats (cross-entropy), accuracy in [0, 1].
    out_stem : path or sequence of paths
        Output stem or explicit ``.png``/``.pdf`` paths.
    title, study : str, optional
        Figure title, or the study name used in the default title.

    Returns
    -------
    list of Path
    """
    return save_figure(training_curves_figure(metrics, title=title, study=study), out_stem)


def dynamics_panel_figure(
    mi: TableLike,
    metrics: TableLike,
    estimator: str | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
) -> Figure:
    """Build the dynamics panel (see :func:`dynamics_panel`)."""
    smoothing = _check_smoothing(smoothing)
    raw = _load_mi(mi)
    met = _load_metrics(metrics)
    study = _study_of(raw, study)
    mean, n_excluded = mean_over_seeds(raw)
    not_drawn = mean.attrs.get("not_drawn")
    available = sorted(mean["estimator"].unique())
    if estimator is None:
        if len(available) > 1:
            raise ValueError(
                f"the MI table holds several estimators {available}; pass estimator= to choose one"
            )
        estimator = available[0]
    _select_estimators(mean, estimator)
    mean = mean[mean["estimator"] == estimator]
    # The same seeds as the MI mean: drop diverged ones from the metrics too.
    ok_seeds = set(raw.loc[raw["status"] == "ok", "seed"]) - set(
        raw.loc[raw["status"] != "ok", "seed"]
    )
    met_ok = met[met["seed"].isin(ok_seeds)]
    if met_ok.empty:
        raise ValueError(
            f"metrics table has no rows for the ok seeds {sorted(map(_fmt_seed, ok_seeds))} "
            "of the MI table"
        )
    stats = _metric_stats(met_ok)
    layers = _layer_order(mean)
    colours = layer_palette(layers)
    max_epoch = float(max(mean["epoch"].max(), met_ok["epoch"].max()))
    n_seeds = int(mean["n_seeds"].max())
    smoothed = smooth(mean, **smoothing) if smoothing else None
    with _style():
        fig, axes = plt.subplots(1, 4, figsize=(11.0, 3.0), layout="constrained", sharex=True)
        for ax, q in zip(axes[:2], ("I_XT", "I_TY")):
            _draw_mi_epoch(ax, mean, smoothed, q, layers, colours, max_epoch, estimator)
            ax.set_title(f"{'I(X;T)' if q == 'I_XT' else 'I(T;Y)'} ({estimator})")
        _draw_metric(axes[2], stats, "loss", max_epoch)
        _draw_metric(axes[3], stats, "acc", max_epoch)
        h_layers, l_layers = axes[0].get_legend_handles_labels()
        h_split, l_split = axes[3].get_legend_handles_labels()
        fig.legend(
            h_layers + h_split,
            l_layers + [f"{lab} split" for lab in l_split],
            loc="outside lower center",
            ncol=min(len(l_layers) + len(l_split), 4),
            frameon=False,
            title=f"MI: mean per layer; loss and accuracy: train/eval "
            f"(bands: {_error_kind(n_seeds)})",
        )
        heading = (
            title
            if title is not None
            else (
                "Training dynamics" + (f": {study}" if study else "") + f", estimator {estimator}"
            )
        )
        _suptitle(fig, heading, n_seeds, n_excluded, smoothing, not_drawn)
    return fig


def dynamics_panel(
    mi: TableLike,
    metrics: TableLike,
    out_stem: OutSpec,
    estimator: str | None = None,
    title: str | None = None,
    smoothing: Mapping[str, int] | None = None,
    study: str | None = None,
) -> list[Path]:
    """MI dynamics beside loss and accuracy (Butakov et al. 2024 style), sharing the epoch axis.

    One row of four panels: I(X;T) and I(T;Y) per layer against epoch, then loss and accuracy
    (train and eval). Seeds excluded from the MI mean (diverged) are excluded from the metric
    curves too, so both halves describe the same runs.

    Parameters
    ----------
    mi, metrics : DataFrame or path
        MI table (:data:`MI_COLUMNS`) and metrics table (:data:`METRICS_COLUMNS`).
    out_stem : path or sequence of paths
    estimator : str, optional
        Required when the MI table holds more than one estimator.
    title, smoothing, study
        As :func:`information_plane`.

    Returns
    -------
    list of Path
    """
    fig = dynamics_panel_figure(
        mi, metrics, estimator=estimator, title=title, smoothing=smoothing, study=study
    )
    return save_figure(fig, out_stem)


# --------------------------------------------------------------------------------------------
# Estimator validation (synthetic distributions with known MI)
# --------------------------------------------------------------------------------------------


def _load_validation(table: TableLike) -> pd.DataFrame:
    df = _load_table(table, VALIDATION_COLUMNS, "validation table")
    _numeric(df, ["dim", "true_mi", "n", "seed", "estimate"], "validation table")
    df["distribution"] = df["distribution"].astype(str)
    df["estimator"] = df["estimator"].astype(str)
    return df


def validation_summary(table: TableLike) -> pd.DataFrame:
    """Bias and spread of each estimator on distributions with known MI.

    Parameters
    ----------
    table : DataFrame or path
        Validation table (:data:`VALIDATION_COLUMNS`, bits).

    Returns
    -------
    DataFrame
        One row per (distribution, dim, n, true_mi, estimator) with ``mean`` (mean estimate over
        seeds, bits), ``bias`` (mean - true_mi, bits), ``spread`` (standard deviation over seeds,
        ddof=1, bits; NaN with one seed), ``rmse`` (root mean squared error, bits) and
        ``n_seeds``.
    """
    df = _load_validation(table)
    keys = ["distribution", "dim", "n", "true_mi", "estimator"]
    df["_sq"] = (df["estimate"] - df["true_mi"]) ** 2
    g = df.groupby(keys)
    out = pd.DataFrame(
        {
            "mean": g["estimate"].mean(),
            "spread": g["estimate"].std(ddof=1),
            "rmse": np.sqrt(g["_sq"].mean()),
            "n_seeds": g["seed"].nunique(),
        }
    ).reset_index()
    out["bias"] = out["mean"] - out["true_mi"]
    cols = [*keys, "mean", "bias", "spread", "rmse", "n_seeds"]
    return out[cols].sort_values(keys, kind="stable").reset_index(drop=True)


def _pick_n(df: pd.DataFrame, n: int | None, where: str) -> tuple[pd.DataFrame, str]:
    """Keep one sample size: ``n`` if given, else the largest per panel group."""
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


def _identity(ax: plt.Axes, values: np.ndarray) -> None:
    lo, hi = 0.0, float(np.nanmax(values)) if len(values) else 1.0
    ax.plot([lo, hi], [lo, hi], ls="--", color="0.35", lw=1.0, label="true MI", zorder=1)


def _tolerance(ax: plt.Axes, values: np.ndarray) -> None:
    from infoplane.synthetic_images import tolerance_band

    grid = np.linspace(0.0, float(np.nanmax(values)) if len(values) else 1.0, 200)
    lo, hi = tolerance_band(grid)
    ax.fill_between(grid, lo, hi, color="0.85", lw=0, zorder=0, label="target: ±10% or ±0.1 nats")


def _nats_axis(ax: plt.Axes) -> None:
    sec = ax.secondary_yaxis(
        "right", functions=(lambda b: bits_to_nats(b), lambda n: nats_to_bits(n))
    )
    sec.set_ylabel("estimate [nats]")


def _short(label: str) -> str:
    return label.split("(")[0]


def _clip_off_scale(
    ax: plt.Axes,
    s: pd.DataFrame,
    palette: dict[str, Any],
    by: str = "estimator",
    spread: str = "spread",
    names: Mapping[str, str] | None = None,
) -> None:
    """Limit the y axis to a window around the truth, so that one line that is far off (e.g.
    binning at 12 bits in 25 dimensions) does not flatten the rest; name what is cut off (the
    ``by`` value, through ``names`` when given), with its largest or smallest mean, inside the
    panel. ``s`` has columns ``true_mi``, ``mean``, ``spread`` and ``by``."""
    top_true = float(s["true_mi"].max())
    hi = 1.75 * top_true + 0.5
    lo = -0.75 * top_true - 0.5
    data_lo = float((s["mean"] - s[spread].fillna(0)).min())
    data_hi = float((s["mean"] + s[spread].fillna(0)).max())
    ax.set_ylim(max(lo, min(data_lo, 0.0) - 0.2), min(hi, max(data_hi, top_true) + 0.2))
    notes = []
    for key, e in s.groupby(by, sort=False):
        name = (names or {}).get(key, _short(str(key)))
        if (e["mean"] > hi).any():
            notes.append((f"\u2191 {name}: up to {e['mean'].max():.1f}", palette.get(key, "0.3")))
        elif (e["mean"] < lo).any():
            notes.append((f"\u2193 {name}: down to {e['mean'].min():.1f}", palette.get(key, "0.3")))
    for k, (text, colour) in enumerate(notes):
        ax.text(0.02, 0.98 - 0.07 * k, text, transform=ax.transAxes, ha="left", va="top",
                fontsize=6.5, color=colour)


def estimator_validation_figure(
    table: TableLike, n: int | None = None, title: str | None = None
) -> Figure:
    """Build the estimator-validation grid (see :func:`estimator_validation`)."""
    df = _load_validation(table)
    df, n_note = _pick_n(df, n, "validation table")
    dists = sorted(df["distribution"].unique())
    dims = sorted(int(d) for d in df["dim"].unique())
    palette = _named_palette(sorted(df["estimator"].unique()), _KNOWN_ESTIMATORS, "colorblind")
    summary = validation_summary(df)
    n_seeds = int(df["seed"].nunique())
    with _style():
        fig, axes = plt.subplots(
            len(dims),
            len(dists),
            figsize=(3.0 * len(dists) + 0.6, 2.7 * len(dims) + 0.6),
            squeeze=False,
            layout="constrained",
        )
        for i, dim in enumerate(dims):
            for j, dist in enumerate(dists):
                ax = axes[i][j]
                s = summary[(summary["distribution"] == dist) & (summary["dim"] == dim)]
                if s.empty:
                    ax.set_axis_off()
                    ax.set_title(f"{dist}, dim {dim}: no data")
                    continue
                _identity(ax, s["true_mi"].to_numpy())
                for est in palette:
                    e = s[s["estimator"] == est].sort_values("true_mi")
                    if e.empty:
                        continue
                    _band(
                        ax,
                        e["true_mi"],
                        e["mean"],
                        e["spread"],
                        palette[est],
                        lw=1.4,
                        marker="o",
                        ms=3,
                        label=est,
                    )
                _clip_off_scale(ax, s, palette)
                ax.set_title(f"{dist}, dim {dim}")
                ax.set_xlabel(f"true I(X;Y) {_BITS}")
                ax.set_ylabel(f"estimate {_BITS}")
        handles, labels = axes[0][0].get_legend_handles_labels()
        for ax in axes.flat:  # collect every estimator once, whichever panel has it
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(
            handles,
            labels,
            loc="outside right center",
            title="estimator\n(band: ±1 s.d.\nover seeds)" if n_seeds >= 2 else "estimator",
        )
        heading = title if title is not None else "Estimator validation on known MI"
        fig.suptitle(f"{heading}\n{n_note}, {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    return fig


def estimator_validation(
    table: TableLike, out_stem: OutSpec, n: int | None = None, title: str | None = None
) -> list[Path]:
    """Estimated against true MI, one panel per distribution (columns) and dimension (rows).

    One colour per estimator (fixed per estimator name across figures); the line is the mean
    over seeds and the band ±1 standard deviation over seeds; the dashed identity line is a
    perfect estimator. Each panel's y axis spans at most ``[-0.75 m - 0.5, 1.75 m + 0.5]`` bits
    (m = the largest true MI); an estimator whose mean leaves that window is named in the panel
    with its extreme value (arrow up or down), so a far-off estimator stays visible as a fact
    without flattening the others.

    Parameters
    ----------
    table : DataFrame or path
        Validation table (:data:`VALIDATION_COLUMNS`, bits).
    out_stem : path or sequence of paths
    n : int, optional
        Sample size to draw (default: the largest in the table; the title says which).
    title : str, optional

    Returns
    -------
    list of Path
    """
    return save_figure(estimator_validation_figure(table, n=n, title=title), out_stem)


# --------------------------------------------------------------------------------------------
# Synthetic images with known MI (compression study)
# --------------------------------------------------------------------------------------------


def synthetic_images_figure(
    table: TableLike,
    n: int | None = None,
    title: str | None = None,
    nats_axis: bool = False,
) -> Figure:
    """Build the synthetic-images figure (see :func:`synthetic_images`)."""
    df = _load_table(table, SYNTHETIC_IMAGES_COLUMNS, "synthetic-images table")
    _numeric(df, ["latent_dim", "true_mi", "n", "seed", "estimate"], "synthetic-images table")
    df = df[np.isfinite(df["estimate"])]  # NaN: the estimator refused that representation
    for col in ("image", "compression", "estimator"):
        df[col] = df[col].astype(str)
    df, n_note = _pick_n(df, n, "synthetic-images table")
    df["panel"] = df["image"] + " (latent dim " + df["latent_dim"].astype(int).astype(str) + ")"
    panels = sorted(df["panel"].unique())
    estimators = list(dict.fromkeys(df["estimator"]))  # table order: the study's primary first
    palette = _named_palette(sorted(df["compression"].unique()), _COMPRESSIONS, "colorblind")
    keys = ["panel", "estimator", "compression", "true_mi"]
    g = df.groupby(keys)["estimate"]
    stats = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1)}).reset_index()
    n_seeds = int(df["seed"].nunique())
    with _style():
        fig, axes = plt.subplots(
            len(estimators),
            len(panels),
            figsize=(3.0 * len(panels) + 0.8, 2.8 * len(estimators) + 0.6),
            squeeze=False,
            layout="constrained",
        )
        for i, est in enumerate(estimators):
            for j, panel in enumerate(panels):
                ax = axes[i][j]
                s = stats[(stats["panel"] == panel) & (stats["estimator"] == est)]
                if s.empty:
                    ax.set_axis_off()
                    continue
                _tolerance(ax, s["true_mi"].to_numpy())
                _identity(ax, s["true_mi"].to_numpy())
                for comp in palette:
                    c = s[s["compression"] == comp].sort_values("true_mi")
                    if c.empty:
                        continue
                    _band(
                        ax,
                        c["true_mi"],
                        c["mean"],
                        c["std"],
                        palette[comp],
                        lw=1.4,
                        marker="o",
                        ms=3,
                        label=_COMPRESSION_LABELS.get(comp, comp),
                    )
                _clip_off_scale(ax, s, palette, by="compression", spread="std", names=_COMPRESSION_LABELS)
                ax.set_title(f"{panel}\nestimator: {est}")
                ax.set_xlabel(f"true I(X;Y) {_BITS}")
                ax.set_ylabel(f"estimate {_BITS}")
                if nats_axis:
                    _nats_axis(ax)
        handles, labels = [], []
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(
            handles,
            labels,
            loc="outside right center",
            title="compression\n(band: ±1 s.d.\nover seeds)" if n_seeds >= 2 else "compression",
        )
        heading = title if title is not None else "MI of synthetic images with known MI"
        fig.suptitle(f"{heading}\n{n_note}, {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    return fig


def synthetic_images(
    table: TableLike,
    out_stem: OutSpec,
    n: int | None = None,
    title: str | None = None,
    nats_axis: bool = False,
) -> list[Path]:
    """Estimated against true MI for synthetic images, one line per compression.

    Panels are image kinds (columns; the title gives the latent dimension) by estimator (rows,
    in table order). The y axis stays near the truth; a compression whose estimate leaves that
    window is named in the panel with its extreme value. Each compression (``none``, ``pca``,
    ``ae``, ``latent``) has a fixed colour; the line is the mean over seeds and the band ±1
    standard deviation; the dashed identity line is the truth and the grey band around it the
    target (within 10% or 0.1 nats,
    :func:`infoplane.synthetic_images.tolerance_band`).

    Parameters
    ----------
    table : DataFrame or path
        Synthetic-images table (:data:`SYNTHETIC_IMAGES_COLUMNS`, bits).
    out_stem : path or sequence of paths
    n : int, optional
        Sample size to draw (default: the largest in the table).
    title : str, optional
    nats_axis : bool
        Add a secondary y axis in nats on the right of each panel.

    Returns
    -------
    list of Path
    """
    fig = synthetic_images_figure(table, n=n, title=title, nats_axis=nats_axis)
    return save_figure(fig, out_stem)
