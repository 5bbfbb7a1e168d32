"""The synthetic-images figure: estimated against true MI between images rendered from latents.

Draws the summary table the synthetic-images study writes
(``results/<study>/synthetic_summary.csv``: one row per image kind, compression, estimator and
true MI, with the mean and standard deviation over seeds and the study's target band
``target_lo_bits``/``target_hi_bits``). The figure takes the band from the table; it knows
nothing of how the study defines it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infoplane.plots.data import TableLike, as_text, load_table, numeric
from infoplane.plots.known_mi import (
    clip_off_scale,
    draw_lines,
    grid,
    identity,
    label_panel,
    pick_n,
    seeds_per_point,
    side_legend,
    summary_hint,
)
from infoplane.plots.known_mi import (
    nats_axis as add_nats_axis,
)
from infoplane.plots.style import (
    COMPRESSION_LABELS,
    COMPRESSIONS,
    OutSpec,
    named_palette,
    save_figure,
    style,
    suptitle,
)

#: Columns of the synthetic-images summary the figure reads (bits). Optional: ``latent_dim``
#: (shown in the panel titles) and ``n`` (to choose a sample size).
#: The columns of the study's summary (:data:`infoplane.tables.SYNTHETIC_SUMMARY_COLUMNS`) this
#: figure reads; the loader checks they are there.
SYNTHETIC_FIGURE_COLUMNS: tuple[str, ...] = (
    "image", "compression", "estimator", "true_mi", "n_seeds", "mean", "std",
    "target_lo_bits", "target_hi_bits",
)


def synthetic_summary(table: TableLike) -> pd.DataFrame:
    """Load the synthetic-images study's summary table and check its columns (a pure loader).

    Rows whose ``mean`` is NaN (the estimator refused that representation for every seed) are
    dropped.

    Raises
    ------
    ValueError
        Naming the missing columns (e.g. ``target_lo_bits`` and ``target_hi_bits`` when given the
        per-seed ``synthetic.csv``).
    """
    hint = summary_hint("synthetic-images", "synthetic_summary.csv",
                        "`infoplane synthetic --summary`, with the target band columns")
    df = load_table(table, SYNTHETIC_FIGURE_COLUMNS, "synthetic-images summary", hint=hint)
    numbers = ["true_mi", "n_seeds", "mean", "std", "target_lo_bits", "target_hi_bits"]
    numeric(df, numbers + [c for c in ("latent_dim", "n") if c in df.columns],
            "synthetic-images summary")
    as_text(df, ["image", "compression", "estimator"])
    return df[np.isfinite(df["mean"])]


def _panel_name(df: pd.DataFrame) -> pd.Series:
    if "latent_dim" not in df.columns:
        return df["image"]
    return df["image"] + " (latent dim " + df["latent_dim"].astype(int).astype(str) + ")"


def _target_band(ax, s: pd.DataFrame) -> None:
    """The study's target band, piecewise linear between the table's true-MI values."""
    t = s.drop_duplicates("true_mi").sort_values("true_mi")
    ax.fill_between(t["true_mi"], t["target_lo_bits"], t["target_hi_bits"], color="0.85", lw=0,
                    zorder=0, label="target band", gid="target")


def _estimator_order(df: pd.DataFrame, estimators: Sequence[str] | None) -> list[str]:
    """Estimators of the table: those of ``estimators`` first in that order, then the rest in
    table order."""
    present = list(dict.fromkeys(df["estimator"]))
    first = [e for e in (estimators or ()) if e in present]
    return first + [e for e in present if e not in first]


def synthetic_images_figure(
    table: TableLike,
    n: int | None = None,
    title: str | None = None,
    nats_axis: bool = False,
    estimators: Sequence[str] | None = None,
) -> Figure:
    """Build the synthetic-images figure (see :func:`synthetic_images`)."""
    df, n_note = pick_n(synthetic_summary(table), n, "synthetic-images summary")
    if df.empty:
        raise ValueError("synthetic-images summary has no finite mean estimate to draw")
    df = df.assign(panel=_panel_name(df))
    panels = sorted(df["panel"].unique())
    rows = _estimator_order(df, estimators)
    palette = named_palette(sorted(df["compression"].unique()), COMPRESSIONS)
    with style():
        fig, axes = grid(len(rows), len(panels), 3.0, 2.8)
        for i, est in enumerate(rows):
            for j, panel in enumerate(panels):
                ax = axes[i][j]
                s = df[(df["panel"] == panel) & (df["estimator"] == est)]
                if s.empty:
                    ax.set_axis_off()
                    continue
                _target_band(ax, s)
                identity(ax, s["true_mi"].to_numpy())
                draw_lines(ax, s, palette, "compression", COMPRESSION_LABELS)
                clip_off_scale(ax, s, palette, "compression", COMPRESSION_LABELS)
                label_panel(ax, f"{panel}\nestimator: {est}")
                if nats_axis:
                    add_nats_axis(ax)
        side_legend(fig, axes, "compression", int(df["n_seeds"].max()) >= 2)
        heading = title if title is not None else "MI of synthetic images with known MI"
        suptitle(fig, heading, ", ".join(p for p in (n_note, seeds_per_point(df["n_seeds"])) if p))
    return fig


def synthetic_images(
    table: TableLike,
    out_stem: OutSpec,
    n: int | None = None,
    title: str | None = None,
    nats_axis: bool = False,
    estimators: Sequence[str] | None = None,
) -> list[Path]:
    """Estimated against true MI for synthetic images, one line per compression.

    Panels are image kinds (columns; the title gives the latent dimension when the table has
    ``latent_dim``) by estimator (rows, in ``estimators`` order, else table order). The y axis
    stays near the truth; a compression whose estimate leaves that window is named in the panel
    with its extreme value. Each compression (``none``, ``pca``, ``ae``, ``latent``) has a fixed
    colour; the line is the mean over seeds and the band ±1 standard deviation; the dashed
    identity line is the truth and the grey band around it the study's target, read from the
    table's ``target_lo_bits``/``target_hi_bits``.

    Parameters
    ----------
    table : DataFrame or path
        Synthetic-images summary (:data:`SYNTHETIC_FIGURE_COLUMNS`, bits).
    out_stem : path or sequence of paths
    n : int, optional
        Sample size to draw when the table has an ``n`` column (default: the largest).
    title : str, optional
    nats_axis : bool
        Add a secondary y axis in nats on the right of each panel.
    estimators : sequence of str, optional
        Preferred row order (e.g. the config's, primary estimator first); estimators of the table
        not listed follow in table order, listed ones not in the table are skipped.

    Returns
    -------
    list of Path
    """
    fig = synthetic_images_figure(table, n=n, title=title, nats_axis=nats_axis, estimators=estimators)
    return save_figure(fig, out_stem)
