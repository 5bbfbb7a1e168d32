"""The figure files each study writes: file stems (one PNG and one PDF each), listed once.

Light on purpose (no matplotlib, no pandas): the workflow imports these names when it parses
the Snakefile, e.g. ``from infoplane.plots import NETWORK_FIGURES, FIGURE_FORMATS``.
"""

from __future__ import annotations

#: The file formats every figure is written in, in this order.
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf")

#: A network study's figures (:func:`infoplane.plots.network_figures`, ``infoplane figures``).
NETWORK_FIGURES: tuple[str, ...] = ("information_plane", "mi_vs_epoch", "training_curves", "dynamics")

#: The validation study's figure (``infoplane plot-table validation``).
VALIDATION_FIGURES: tuple[str, ...] = ("estimator_validation",)

#: The synthetic-images study's figure (``infoplane plot-table synthetic``).
SYNTHETIC_FIGURES: tuple[str, ...] = ("synthetic_images",)
