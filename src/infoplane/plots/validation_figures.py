"""The estimator-validation figure: estimated against true MI on distributions with known MI.

Draws the summary table the validation study writes (``results/<study>/validation_summary.csv``,
one row per distribution, dimension, sample size, true MI and estimator; written by
``infoplane validation --summary``, the study's ``bias_table``). Nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path

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
from infoplane.plots.style import (
    OutSpec,
    estimator_palette,
    save_figure,
    style,
    suptitle,
)

#: Columns of the validation summary the figure reads (bits; ``mean`` and ``std`` over seeds,
#: ``n_seeds`` estimates per row). The study's table has more (``bias``, ``rmse``, ``seconds``).
#: (``validation_summary.csv``, written by :func:`infoplane.studies.validation.bias_table`.)
VALIDATION_FIGURE_COLUMNS: tuple[str, ...] = (
    "distribution", "dim", "n", "true_mi", "estimator", "mean", "std", "n_seeds",
)


def validation_summary(table: TableLike) -> pd.DataFrame:
    """Load the validation study's summary table and check its columns (a pure loader).

    Parameters
    ----------
    table : DataFrame or path
        ``validation_summary.csv``: at least :data:`VALIDATION_FIGURE_COLUMNS` (bits).

    Returns
    -------
    DataFrame
        The table with numeric columns as numbers and names as strings.

    Raises
    ------
    ValueError
        Naming the missing columns (and, for the per-seed ``validation.csv``, the file to pass).
    """
    hint = summary_hint("validation", "validation_summary.csv", "`infoplane validation --summary`")
    df = load_table(table, VALIDATION_FIGURE_COLUMNS, "validation summary", hint=hint)
    numeric(df, ["dim", "n", "true_mi", "mean", "std", "n_seeds"], "validation summary")
    as_text(df, ["distribution", "estimator"])
    return df


def estimator_validation_figure(
    table: TableLike, n: int | None = None, title: str | None = None
) -> Figure:
    """Build the estimator-validation grid (see :func:`estimator_validation`)."""
    summary, n_note = pick_n(validation_summary(table), n, "validation summary")
    dists = sorted(summary["distribution"].unique())
    dims = sorted(int(d) for d in summary["dim"].unique())
    palette = estimator_palette(sorted(summary["estimator"].unique()))
    with style():
        fig, axes = grid(len(dims), len(dists), 3.0, 2.7)
        for i, dim in enumerate(dims):
            for j, dist in enumerate(dists):
                ax = axes[i][j]
                s = summary[(summary["distribution"] == dist) & (summary["dim"] == dim)]
                if s.empty:
                    ax.set_axis_off()
                    ax.set_title(f"{dist}, dim {dim}: no data")
                    continue
                identity(ax, s["true_mi"].to_numpy())
                draw_lines(ax, s, palette, "estimator")
                clip_off_scale(ax, s, palette, "estimator")
                label_panel(ax, f"{dist}, dim {dim}")
        side_legend(fig, axes, "estimator", int(summary["n_seeds"].max()) >= 2)
        heading = title if title is not None else "Estimator validation on known MI"
        suptitle(fig, heading, ", ".join(p for p in (n_note, seeds_per_point(summary["n_seeds"])) if p))
    return fig


def estimator_validation(
    table: TableLike, out_stem: OutSpec, n: int | None = None, title: str | None = None
) -> list[Path]:
    """Estimated against true MI, one panel per distribution (columns) and dimension (rows).

    One colour per estimator (fixed by the estimator registry, the same in every figure); the
    line is the mean over seeds and the band ±1 standard deviation over seeds, both from the
    study's summary table; the dashed identity line is a perfect estimator. Each panel's y axis
    spans at most ``[-0.75 m - 0.5, 1.75 m + 0.5]`` bits (m = the largest true MI); an estimator
    whose mean leaves that window is named in the panel with its extreme value (arrow up or
    down), so a far-off estimator stays visible as a fact without flattening the others.

    Parameters
    ----------
    table : DataFrame or path
        Validation summary (:func:`validation_summary`, bits).
    out_stem : path or sequence of paths
    n : int, optional
        Sample size to draw (default: the largest in the table; the title says which).
    title : str, optional

    Returns
    -------
    list of Path
    """
    return save_figure(estimator_validation_figure(table, n=n, title=title), out_stem)
