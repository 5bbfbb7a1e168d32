"""The figure of a sweep study: one information plane per condition.

Reads the sweep study's ``mi.csv`` (:func:`infoplane.tables.sweep_columns` in front of
:data:`infoplane.tables.MI_COLUMNS`, bits) and nothing else. Each panel is drawn exactly as a
panel of :func:`infoplane.plots.information_plane` (per-layer mean over ok seeds, ±1 s.d. cross
bars, points coloured by epoch on one symmetric-log scale), with shared axes so that
conditions compare at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from infoplane.plots.data import TableLike, figure_split, layer_order, load_table
from infoplane.plots.network import _mi_data, _MIData, _plane_layer, plane_keys, split_phrase
from infoplane.plots.style import (
    BITS,
    MARKERS,
    OutSpec,
    canvas,
    epoch_norm,
    layer_palette,
    save_figure,
    seeds_phrase,
    style,
    suptitle,
)
from infoplane.tables import MI_COLUMNS


def _conditions(mi: TableLike) -> tuple[pd.DataFrame, list[str]]:
    """The table (checked) and its conditions in table order."""
    df = load_table(mi, [*MI_COLUMNS, "condition"], "sweep MI table (mi.csv of a sweep study)",
                    dtype={"layer": str, "condition": str, "split": str})
    df["layer"] = df["layer"].astype(str)
    df["split"] = df["split"].astype(str)
    return df, list(dict.fromkeys(df["condition"].astype(str)))


def sweep_information_plane_figure(
    mi: TableLike,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    split: str | None = None,
) -> Figure:
    """Build the sweep's grid of information planes (see :func:`sweep_information_plane`)."""
    df, conditions = _conditions(mi)
    split = figure_split(df) if split is None else split
    data: dict[str, _MIData] = {c: _mi_data(df[df["condition"] == c], None, None, None, split) for c in conditions}
    estimators = list(dict.fromkeys(e for d in data.values() for e in d.estimators))
    if estimator is not None:
        wanted = [estimator] if isinstance(estimator, str) else list(estimator)
        missing = [e for e in wanted if e not in estimators]
        if missing:
            raise ValueError(f"estimator {missing[0]!r} is not in the sweep's MI table; it has {estimators}")
        estimators = wanted
    layers = layer_order(df)
    colours = layer_palette(layers)
    markers = {layer: MARKERS[i % len(MARKERS)] for i, layer in enumerate(layers)}
    for d in data.values():
        d.colours = colours
    norm = epoch_norm(df["epoch"].to_numpy())
    n_seeds = min(d.n_seeds for d in data.values())
    n_excluded = sum(d.n_excluded for d in data.values())
    notes = [*dict.fromkeys(d.not_drawn for d in data.values() if d.not_drawn), split_phrase(split)]
    with style():
        rows, cols = len(estimators), len(conditions)
        fig, body = canvas((3.3 * cols + 1.3, 3.2 * rows + 1.0), notes)
        axes = body.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
        for r, est in enumerate(estimators):
            for c, cond in enumerate(conditions):
                ax = axes[r][c]
                for layer in data[cond].layers:
                    _plane_layer(ax, data[cond], est, layer, markers[layer], norm)
                ax.set_title(f"{cond}\n{est}", fontsize="small")
                if c == 0:
                    ax.set_ylabel(f"I(T;Y) {BITS}")
                if r == rows - 1:
                    ax.set_xlabel(f"I(X;T) {BITS}")
        plane_keys(body, axes.ravel().tolist(), layers, colours, markers, n_seeds, norm)
        suptitle(body, title or "Information plane per condition", seeds_phrase(n_seeds, n_excluded))
    return fig


def sweep_information_plane(
    mi: TableLike,
    out_stem: OutSpec,
    estimator: str | Sequence[str] | None = None,
    title: str | None = None,
    split: str | None = None,
) -> list[Path]:
    """A sweep's information planes: I(X;T) against I(T;Y) (bits), one panel per condition
    (columns, in table order) and estimator (rows).

    Parameters
    ----------
    mi : DataFrame or path
        The sweep study's MI table: :data:`infoplane.tables.MI_COLUMNS` plus ``condition``.
    out_stem : path or sequence of paths
        Output stem (``.png`` and ``.pdf`` are written) or explicit paths.
    estimator : str, sequence of str or None
        Estimators to draw, one row each (default: every estimator of the table). A condition
        that did not run an estimator leaves its panel empty.
    title : str, optional
        Figure title.
    split : str, optional
        The split whose rows are drawn; default ``all`` when the table has it, else its first
        split (:func:`infoplane.plots.data.figure_split`).

    Returns
    -------
    list of Path
        The PNG and PDF written.
    """
    return save_figure(sweep_information_plane_figure(mi, estimator=estimator, title=title, split=split),
                       out_stem)
