"""Figures for information-plane studies, drawn from result tables alone.

Every function here reads tables (pandas DataFrames, or paths to CSV files) and never opens an
activation store, so every figure regenerates without retraining or re-estimating; no module of
this package imports a study. Mutual information is in **bits** on every axis. Each public
``<name>(table, out, ...)`` function saves its figure as PNG (150 dpi) and PDF and returns the
written paths; the matching ``<name>_figure(...)`` builder returns the
:class:`matplotlib.figure.Figure` for notebooks and tests.

Modules, by what they draw:

- :mod:`~infoplane.plots.style`: rc settings, DPI, palettes, the symlog epoch axis, notes under a
  figure, :func:`save_figure`.
- :mod:`~infoplane.plots.data`: loading tables with column checks, :func:`mean_over_seeds`,
  :func:`smooth`.
- :mod:`~infoplane.plots.network`: a network study's figures (MI table
  :data:`infoplane.tables.MI_COLUMNS`, metrics table :data:`infoplane.tables.METRIC_COLUMNS`),
  and :func:`network_figures` that writes all of them.
- :mod:`~infoplane.plots.validation_figures`: the estimator-validation figure, from the
  study's ``validation_summary.csv``.
- :mod:`~infoplane.plots.synthetic_figures`: the synthetic-images figure, from the study's
  ``synthetic_summary.csv``.

The figure file stems each study writes are listed once here (:data:`NETWORK_FIGURES`,
:data:`VALIDATION_FIGURES`, :data:`SYNTHETIC_FIGURES`, each in :data:`FIGURE_FORMATS`).
"""

from __future__ import annotations

from infoplane.plots.data import (
    IMPOSSIBLE_BELOW_BITS,
    TableLike,
    check_smoothing,
    load_metrics,
    load_mi,
    mean_over_seeds,
    smooth,
)
from infoplane.plots.network import (
    NETWORK_FIGURES,
    dynamics_panel,
    dynamics_panel_figure,
    information_plane,
    information_plane_figure,
    metric_stats,
    mi_vs_epoch,
    mi_vs_epoch_figure,
    network_figures,
    training_curves,
    training_curves_figure,
)
from infoplane.plots.style import (
    DPI,
    FIGURE_FORMATS,
    OutSpec,
    estimator_palette,
    layer_palette,
    notes_text,
    save_figure,
)
from infoplane.plots.synthetic_figures import (
    SYNTHETIC_FIGURES,
    SYNTHETIC_SUMMARY_COLUMNS,
    synthetic_images,
    synthetic_images_figure,
    synthetic_summary,
)
from infoplane.plots.validation_figures import (
    VALIDATION_FIGURES,
    VALIDATION_SUMMARY_COLUMNS,
    estimator_validation,
    estimator_validation_figure,
    validation_summary,
)

__all__ = [
    "DPI",
    "FIGURE_FORMATS",
    "IMPOSSIBLE_BELOW_BITS",
    "NETWORK_FIGURES",
    "SYNTHETIC_FIGURES",
    "SYNTHETIC_SUMMARY_COLUMNS",
    "VALIDATION_FIGURES",
    "VALIDATION_SUMMARY_COLUMNS",
    "OutSpec",
    "TableLike",
    "check_smoothing",
    "dynamics_panel",
    "dynamics_panel_figure",
    "estimator_palette",
    "estimator_validation",
    "estimator_validation_figure",
    "information_plane",
    "information_plane_figure",
    "layer_palette",
    "load_metrics",
    "load_mi",
    "mean_over_seeds",
    "metric_stats",
    "mi_vs_epoch",
    "mi_vs_epoch_figure",
    "network_figures",
    "notes_text",
    "save_figure",
    "smooth",
    "synthetic_images",
    "synthetic_images_figure",
    "synthetic_summary",
    "training_curves",
    "training_curves_figure",
    "validation_summary",
]
