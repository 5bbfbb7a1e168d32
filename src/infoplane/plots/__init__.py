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
- :mod:`~infoplane.plots.sgd`: the SGD-phases figure (gradient mean/std norms per layer, drift
  and diffusion phases), from the study's ``sgd.csv`` (:data:`infoplane.tables.SGD_COLUMNS`).
- :mod:`~infoplane.plots.sweep`: a sweep study's grid of information planes (one panel per
  condition), from its ``mi.csv`` with the ``condition`` column.
- :mod:`~infoplane.plots.comparison`: conditions and estimators side by side (the compression
  debate): the grid of information planes, the late drop of I(X;T) per layer (from the study's
  ``summary.csv``) and I(X;T) beside the clustering score (from ``geometry.csv``).
- :mod:`~infoplane.plots.validation_figures`: the estimator-validation figure, from the
  study's ``validation_summary.csv``.
- :mod:`~infoplane.plots.synthetic_figures`: the synthetic-images figure, from the study's
  ``synthetic_summary.csv``.

The figure file stems each study writes are listed once, in :mod:`~infoplane.plots.names`
(:data:`NETWORK_FIGURES`, :data:`SWEEP_FIGURES`, :data:`COMPARISON_FIGURES`,
:data:`VALIDATION_FIGURES`, :data:`SYNTHETIC_FIGURES`, each in
:data:`FIGURE_FORMATS`). Importing them is cheap: the figure modules (matplotlib, seaborn,
scipy; seconds) load on first use of a figure function, so the Snakefile can import the names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from infoplane.plots.names import (
    COMPARISON_FIGURES,
    FIGURE_FORMATS,
    NETWORK_FIGURES,
    SWEEP_FIGURES,
    SYNTHETIC_FIGURES,
    VALIDATION_FIGURES,
)

#: Public name -> the module of this package that defines it (loaded on first access).
_LAZY = {
    **dict.fromkeys(
        ["IMPOSSIBLE_BELOW_BITS", "TableLike", "check_smoothing", "load_metrics", "load_mi",
         "mean_over_seeds", "smooth"], "data"),
    **dict.fromkeys(
        ["dynamics_panel", "dynamics_panel_figure", "information_plane", "information_plane_figure",
         "metric_stats", "mi_vs_epoch", "mi_vs_epoch_figure", "network_figures", "training_curves",
         "training_curves_figure"], "network"),
    **dict.fromkeys(
        ["DPI", "OutSpec", "estimator_palette", "layer_palette", "notes_text", "save_figure"], "style"),
    **dict.fromkeys(["load_sgd", "phase_transition", "sgd_phases", "sgd_phases_figure", "sgd_stats"], "sgd"),
    **dict.fromkeys(["sweep_information_plane", "sweep_information_plane_figure"], "sweep"),
    **dict.fromkeys(
        ["CLUSTERING_FIGURE_COLUMNS", "LATE_DROP_FIGURE_COLUMNS", "clustering", "clustering_figure",
         "clustering_stats", "comparison_figures", "compression_grid", "compression_grid_figure",
         "late_drop", "late_drop_figure"], "comparison"),
    **dict.fromkeys(
        ["SYNTHETIC_FIGURE_COLUMNS", "synthetic_images", "synthetic_images_figure",
         "synthetic_summary"], "synthetic_figures"),
    **dict.fromkeys(
        ["VALIDATION_FIGURE_COLUMNS", "estimator_validation", "estimator_validation_figure",
         "validation_summary"], "validation_figures"),
}

__all__ = [
    "CLUSTERING_FIGURE_COLUMNS",
    "COMPARISON_FIGURES",
    "DPI",
    "FIGURE_FORMATS",
    "IMPOSSIBLE_BELOW_BITS",
    "LATE_DROP_FIGURE_COLUMNS",
    "NETWORK_FIGURES",
    "SWEEP_FIGURES",
    "SYNTHETIC_FIGURES",
    "SYNTHETIC_FIGURE_COLUMNS",
    "VALIDATION_FIGURES",
    "VALIDATION_FIGURE_COLUMNS",
    "OutSpec",
    "TableLike",
    "check_smoothing",
    "clustering",
    "clustering_figure",
    "clustering_stats",
    "comparison_figures",
    "compression_grid",
    "compression_grid_figure",
    "dynamics_panel",
    "dynamics_panel_figure",
    "estimator_palette",
    "estimator_validation",
    "estimator_validation_figure",
    "information_plane",
    "information_plane_figure",
    "late_drop",
    "late_drop_figure",
    "layer_palette",
    "load_metrics",
    "load_mi",
    "load_sgd",
    "mean_over_seeds",
    "metric_stats",
    "mi_vs_epoch",
    "mi_vs_epoch_figure",
    "network_figures",
    "notes_text",
    "phase_transition",
    "save_figure",
    "sgd_phases",
    "sgd_phases_figure",
    "sgd_stats",
    "smooth",
    "sweep_information_plane",
    "sweep_information_plane_figure",
    "synthetic_images",
    "synthetic_images_figure",
    "synthetic_summary",
    "training_curves",
    "training_curves_figure",
    "validation_summary",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'infoplane.plots' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"infoplane.plots.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the names for type checkers and IDEs
    from infoplane.plots.comparison import (
        CLUSTERING_FIGURE_COLUMNS,
        LATE_DROP_FIGURE_COLUMNS,
        clustering,
        clustering_figure,
        clustering_stats,
        comparison_figures,
        compression_grid,
        compression_grid_figure,
        late_drop,
        late_drop_figure,
    )
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
    from infoplane.plots.sgd import (
        load_sgd,
        phase_transition,
        sgd_phases,
        sgd_phases_figure,
        sgd_stats,
    )
    from infoplane.plots.style import (
        DPI,
        OutSpec,
        estimator_palette,
        layer_palette,
        notes_text,
        save_figure,
    )
    from infoplane.plots.sweep import (
        sweep_information_plane,
        sweep_information_plane_figure,
    )
    from infoplane.plots.synthetic_figures import (
        SYNTHETIC_FIGURE_COLUMNS,
        synthetic_images,
        synthetic_images_figure,
        synthetic_summary,
    )
    from infoplane.plots.validation_figures import (
        VALIDATION_FIGURE_COLUMNS,
        estimator_validation,
        estimator_validation_figure,
        validation_summary,
    )
