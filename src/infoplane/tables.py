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

#: The estimator-validation table (``validation.csv``): one row per (distribution, dim, true MI,
#: n, seed, estimator); ``status`` is ``ok`` or ``refused`` (then ``estimate`` is NaN and
#: ``reason`` says why).
VALIDATION_COLUMNS: tuple[str, ...] = (
    "distribution", "dim", "true_mi", "n", "seed", "estimator",
    "estimate", "se", "seconds", "status", "reason",
)

#: The synthetic-images table (``synthetic.csv``): one row per (image, true MI, seed,
#: compression, estimator); ``status``/``reason`` as in the validation table.
SYNTHETIC_COLUMNS: tuple[str, ...] = (
    "image", "latent_dim", "true_mi", "n", "seed", "compression", "estimator",
    "estimate", "estimate_se", "compressed_dim", "image_size", "status", "reason",
)

#: The synthetic-images summary (``synthetic_summary.csv``): one row per (image, compression,
#: estimator, true MI) with the target band the figure draws.
SYNTHETIC_SUMMARY_COLUMNS: tuple[str, ...] = (
    "image", "compression", "estimator", "true_mi", "true_mi_nats", "n_seeds", "mean", "std",
    "bias_bits", "bias_nats", "rel_error", "target_lo_bits", "target_hi_bits", "within_tolerance",
)
