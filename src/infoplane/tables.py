"""The table contracts: column names and order of the tables infoplane writes and reads.

One module so that the stage that writes a table and the figures that read it agree.
MI is in bits in every table.
"""

from __future__ import annotations

#: The MI table (``mi/seed<s>.csv``, ``mi.csv``): one row per (seed, layer, epoch, estimator).
MI_COLUMNS: tuple[str, ...] = (
    "seed", "layer", "layer_index", "epoch", "estimator",
    "I_XT", "I_TY", "I_XT_se", "I_TY_se", "status", "reason",
)

#: The loss/accuracy table (``metrics/seed<s>.csv``, ``metrics.csv``): one row per (seed, epoch).
METRIC_COLUMNS: tuple[str, ...] = ("seed", "epoch", "train_loss", "train_acc", "eval_loss", "eval_acc")
