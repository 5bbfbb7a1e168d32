"""Style and saving: rc settings, DPI, palettes, the symlog epoch axis, notes under a figure.

Shared by every figure module of :mod:`infoplane.plots`; draws nothing on its own.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeAlias

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.colors import Normalize, SymLogNorm
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import FixedLocator, FuncFormatter

from infoplane.plots.names import FIGURE_FORMATS

#: Where a figure goes: a stem, or explicit .png/.pdf paths.
OutSpec: TypeAlias = str | Path | Sequence[str | Path]

#: Resolution of the PNGs (dots per inch).
DPI = 150
EPOCH_CMAP = "viridis"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
BITS = "[bits]"
#: Font size (points) of the notes written under a figure.
NOTE_FONTSIZE = 7.5
RC: dict[str, Any] = {
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


@contextmanager
def style() -> Iterator[None]:
    """The figures' seaborn style and rc settings, for the duration of the block."""
    with sns.axes_style("ticks"), matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


# --------------------------------------------------------------------------------------------
# Palettes
# --------------------------------------------------------------------------------------------


def layer_palette(layers: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Colours for layers, given in network order (input side first).

    Layers get the colours of seaborn's colour-blind-safe palette in order, so the same
    architecture gets the same colours in every figure.
    """
    layers = list(dict.fromkeys(str(x) for x in layers))
    colours = sns.color_palette("colorblind", n_colors=max(len(layers), 1))
    return {layer: tuple(colours[i]) for i, layer in enumerate(layers)}


def named_palette(names: Sequence[str], known: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Fixed colours for ``names``: the i-th of ``known`` always gets colour i, whichever of them a
    figure shows; names not in ``known`` follow in sorted order. Returned in that order."""
    ordered = list(dict.fromkeys(known)) + sorted(set(names) - set(known))
    colours = sns.color_palette("colorblind", n_colors=max(len(ordered), 10))
    wanted = set(names)
    return {n: tuple(colours[i]) for i, n in enumerate(ordered) if n in wanted}


def estimator_palette(names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Colours of estimators, fixed by their place in the estimator registry
    (:func:`infoplane.estimators.available`), so one estimator has one colour in every figure and
    a newly registered estimator gets its own. Labels that are not registered names (a config's
    ``label``) follow in sorted order."""
    from infoplane.estimators import available

    return named_palette(names, available())


#: Compressions of the synthetic-images study in their fixed colour order, and their labels.
COMPRESSIONS: tuple[str, ...] = ("none", "pca", "ae", "latent")
COMPRESSION_LABELS = {"none": "none (raw)", "pca": "PCA", "ae": "autoencoder", "latent": "true latent"}


# --------------------------------------------------------------------------------------------
# The epoch axis and colour scale (symmetric log: epoch 0 stays on the figure)
# --------------------------------------------------------------------------------------------


def epoch_norm(epochs: np.ndarray) -> Normalize:
    """Symmetric-log epoch colour scale: linear on [0, 1], logarithmic above."""
    vmax = max(float(np.nanmax(epochs)), 1.0)
    return SymLogNorm(linthresh=1.0, linscale=0.5, vmin=0.0, vmax=vmax, base=10)


def epoch_ticks(vmax: float) -> list[float]:
    """0, 1, the powers of ten up to ``vmax``, and ``vmax`` itself when well clear of them."""
    ticks = [0.0, 1.0]
    p = 10.0
    while p <= vmax * 1.0001:
        ticks.append(p)
        p *= 10
    if vmax >= 2.5 * ticks[-1]:
        ticks.append(float(vmax))
    return ticks


def g_format(value: float, _pos: Any = None) -> str:
    return f"{value:g}"


def epoch_axis(ax: plt.Axes, max_epoch: float, label: bool = True) -> None:
    """Symlog epoch x axis from 0 to a little past ``max_epoch``."""
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
    ax.xaxis.set_major_locator(FixedLocator(epoch_ticks(max_epoch)))
    ax.xaxis.set_major_formatter(FuncFormatter(g_format))
    ax.set_xlim(0, max(max_epoch, 1.0) * 1.15)
    if label:
        ax.set_xlabel("epoch (symlog scale)")


def band(ax: plt.Axes, x: Any, mean: Any, err: Any, colour: Any, **line_kw: Any) -> None:
    """Line ``mean`` against ``x`` with a shaded ±``err`` band (skipped where err is NaN)."""
    x = np.asarray(x, dtype=float)
    mean = np.asarray(mean, dtype=float)
    err = np.asarray(err, dtype=float)
    ax.plot(x, mean, color=colour, **line_kw)
    if np.isfinite(err).any():
        ax.fill_between(x, mean - err, mean + err, where=np.isfinite(err), color=colour,
                        alpha=0.2, lw=0, interpolate=False)


def collect_legend(axes: Any) -> tuple[list[Any], list[str]]:
    """Legend handles and labels of all ``axes``, each label once, in first-seen order."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


# --------------------------------------------------------------------------------------------
# Titles and notes
# --------------------------------------------------------------------------------------------


def seeds_phrase(n_seeds: int, n_excluded: int = 0) -> str:
    """``"mean of 3 seeds; 1 diverged seed excluded"``."""
    text = f"mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if n_excluded:
        text += f"; {n_excluded} diverged seed{'s' if n_excluded != 1 else ''} excluded"
    return text


def smoothing_phrase(smoothing: Mapping[str, int] | None) -> str:
    """What the smoothed lines are ('' without smoothing)."""
    if not smoothing:
        return ""
    return (f"Lines: Savitzky-Golay smoothed (window {smoothing['window']} records, order "
            f"{smoothing['polyorder']}); faint markers: the raw means.")


def _wrap_notes(notes: Sequence[str], width_in: float) -> list[str]:
    # DejaVu Sans averages about 0.55 em per character; 0.6 leaves a margin.
    chars = max(30, int(width_in * 72 / (NOTE_FONTSIZE * 0.6)))
    return [line for note in notes if note and note.strip() for line in textwrap.wrap(note.strip(), chars)]


def canvas(figsize: tuple[float, float], notes: Sequence[str] = ()) -> tuple[Figure, FigureBase]:
    """A constrained-layout figure whose panels take ``figsize`` (inches) and, when any note is
    non-empty, a strip under them with the notes (one paragraph each, wrapped to the width).

    Returns ``(fig, body)``: draw panels, legends, colour bars and the title on ``body`` (the
    figure itself without notes, else its upper subfigure). The strip grows with the text, so
    notes of any length never run into titles, labels or legends. The notes' text artist has
    gid ``"notes"`` (see :func:`notes_text`).
    """
    width_in, height_in = figsize
    lines = _wrap_notes(notes, width_in)
    if not lines:
        fig = plt.figure(figsize=figsize, layout="constrained")
        return fig, fig
    strip_in = len(lines) * NOTE_FONTSIZE * 1.3 / 72 + 0.1
    fig = plt.figure(figsize=(width_in, height_in + strip_in), layout="constrained")
    body, strip = fig.subfigures(2, 1, height_ratios=[height_in, strip_in])  # type: ignore[misc]
    strip.text(0.01, 1.0, "\n".join(lines), ha="left", va="top", fontsize=NOTE_FONTSIZE,
               color="0.25", gid="notes", linespacing=1.15)
    return fig, body


def notes_text(fig: Figure) -> str:
    """The notes written under ``fig`` by :func:`canvas` ('' when there are none), unwrapped."""
    for text in [t for sub in (fig, *fig.subfigs) for t in sub.texts]:
        if text.get_gid() == "notes":
            return " ".join(text.get_text().split("\n"))
    return ""


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def out_paths(out: OutSpec) -> list[Path]:
    """PNG and PDF paths from a stem, or explicit paths ending in .png / .pdf."""
    if isinstance(out, (str, Path)):
        stem = Path(out)
        if stem.suffix.lower() in (".png", ".pdf"):
            stem = stem.with_suffix("")
        return [stem.with_name(f"{stem.name}.{ext}") for ext in FIGURE_FORMATS]
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
        date, so re-running gives identical files. Each file is written under a temporary name
        and moved into place, so a reader never sees half a figure.
    """
    from infoplane.atomic import atomic_path

    paths = out_paths(out)
    try:
        for p in paths:
            fmt = p.suffix.lower().lstrip(".")
            extra = {"metadata": {"CreationDate": None}} if fmt == "pdf" else {"dpi": DPI}
            with atomic_path(p) as tmp:
                fig.savefig(tmp, format=fmt, bbox_inches="tight", pad_inches=0.05, **extra)
    finally:
        plt.close(fig)
    return paths


def suptitle(fig: FigureBase, heading: str, detail: str = "") -> None:
    """Figure title ``heading`` over a ``detail`` line, each wrapped to the figure's width."""
    size = float(RC["figure.titlesize"])
    chars = max(30, int(fig.get_figure(root=True).get_figwidth() * 72 / (size * 0.6)))
    lines = textwrap.wrap(heading, chars) + textwrap.wrap(detail, chars)
    fig.suptitle("\n".join(lines))
