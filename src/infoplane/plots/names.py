"""The figure files each study writes: file stems (one PNG and one PDF each), listed once.

Light on purpose (no matplotlib, no pandas): the workflow imports these names when it parses
the Snakefile, e.g. ``from infoplane.plots import NETWORK_FIGURES, FIGURE_FORMATS``.
"""

from __future__ import annotations

#: The file formats every figure is written in, in this order.
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf")

#: Every figure's stem -> its category in the Snakemake report (the caption is
#: ``workflow/report/<stem>.rst``). Network figures first, in drawing order.
REPORT_CATEGORY: dict[str, str] = {
    "information_plane": "Information plane",
    "mi_vs_epoch": "Dynamics",
    "training_curves": "Training",
    "dynamics": "Dynamics",
    "sgd_phases": "Training",
    "estimator_validation": "Estimator validation",
    "synthetic_images": "Synthetic images",
    "sweep_information_plane": "Information plane",
    "compression_grid": "Information plane",
    "late_drop": "Compression",
    "clustering": "Compression",
}

#: A network study's figures (:func:`infoplane.plots.network_figures`, ``infoplane figures``).
NETWORK_FIGURES: tuple[str, ...] = ("information_plane", "mi_vs_epoch", "training_curves", "dynamics", "sgd_phases")

#: The validation study's figure (``infoplane plot-table validation``).
VALIDATION_FIGURES: tuple[str, ...] = ("estimator_validation",)

#: The synthetic-images study's figure (``infoplane plot-table synthetic``).
SYNTHETIC_FIGURES: tuple[str, ...] = ("synthetic_images",)

#: A sweep study's figure (one information plane per condition; ``infoplane sweep-figure``),
#: drawn in addition to each condition's :data:`NETWORK_FIGURES`.
SWEEP_FIGURES: tuple[str, ...] = ("sweep_information_plane",)

#: The figures that put conditions and estimators side by side (the compression debate:
#: Shwartz-Ziv & Tishby 2017, Saxe et al. 2018, Goldfeld et al. 2019), drawn by
#: :func:`infoplane.plots.comparison_figures` when the workflow asks for them:
#: ``compression_grid`` (information planes, conditions x estimators, from ``mi.csv``),
#: ``late_drop`` (late drop of I(X;T) per layer, from ``summary.csv``) and ``clustering``
#: (I(X;T) beside the clustering score, from ``mi.csv`` and ``geometry.csv``).
COMPARISON_FIGURES: tuple[str, ...] = ("compression_grid", "late_drop", "clustering")

_LISTED = NETWORK_FIGURES + VALIDATION_FIGURES + SYNTHETIC_FIGURES + SWEEP_FIGURES + COMPARISON_FIGURES
if sorted(_LISTED) != sorted(REPORT_CATEGORY):  # every figure listed once, with its report category
    raise RuntimeError(f"plots.names: figure lists {sorted(_LISTED)} != report categories {sorted(REPORT_CATEGORY)}")
