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
}

#: A network study's figures (:func:`infoplane.plots.network_figures`, ``infoplane figures``).
NETWORK_FIGURES: tuple[str, ...] = tuple(REPORT_CATEGORY)[:5]

#: The validation study's figure (``infoplane plot-table validation``).
VALIDATION_FIGURES: tuple[str, ...] = tuple(REPORT_CATEGORY)[5:6]

#: The synthetic-images study's figure (``infoplane plot-table synthetic``).
SYNTHETIC_FIGURES: tuple[str, ...] = tuple(REPORT_CATEGORY)[6:7]

#: A sweep study's figure (one information plane per condition; ``infoplane sweep-figure``),
#: drawn in addition to each condition's :data:`NETWORK_FIGURES`.
SWEEP_FIGURES: tuple[str, ...] = tuple(REPORT_CATEGORY)[7:8]
