"""The table contracts: column names and order of the tables infoplane writes and reads.

One module so that the stage that writes a table and the figures that read it agree.
MI is in bits in every table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The MI table (``mi/seed<s>.csv``, ``mi.csv``): one row per (seed, layer, epoch, estimator).
MI_COLUMNS: tuple[str, ...] = (
    "seed", "layer", "layer_index", "epoch", "estimator",
    "I_XT", "I_TY", "I_XT_se", "I_TY_se", "status", "reason",
)


def sweep_columns(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The extra columns in front of :data:`MI_COLUMNS` and :data:`METRIC_COLUMNS` in a sweep
    study's ``mi.csv`` and ``metrics.csv`` (each condition's own tables under
    ``<study>/<condition>/`` have none): ``condition`` (its name, e.g.
    ``activation-relu_lr-0.001``) and one column per swept key, named by the dotted key (e.g.
    ``model.activation``, ``training.lr``) in :data:`infoplane.config.SWEEP_KEYS` order, holding
    the condition's value (lists as in the name: widths ``10x7x5``, estimator labels joined by
    ``+``). ``()`` for a study without a sweep."""
    from infoplane.config import SWEEP_KEYS

    sweep = cfg.get("sweep") or {}
    return ("condition", *[key for key in SWEEP_KEYS if key in sweep]) if sweep else ()


#: The loss/accuracy table (``metrics/seed<s>.csv``, ``metrics.csv``): one row per (seed, epoch).
METRIC_COLUMNS: tuple[str, ...] = ("seed", "epoch", "train_loss", "train_acc", "eval_loss", "eval_acc")

#: The SGD-diagnostics table (``sgd/<group>.csv``, ``sgd.csv``; Shwartz-Ziv & Tishby 2017, figure 4):
#: one row per (seed, layer with weights, recorded epoch). ``grad_mean``/``grad_std``: Frobenius
#: norms of the mean and of the elementwise standard deviation of the layer's weight gradient over
#: the mini-batches of that training epoch (NaN at epoch 0); ``snr`` = grad_mean / grad_std;
#: ``weight_norm`` = ||W||_F after the epoch (see :mod:`infoplane.training`). ``layer_index``
#: counts the layers with weights from 0 (the last is the output layer).
SGD_COLUMNS: tuple[str, ...] = (
    "seed", "layer", "layer_index", "epoch", "grad_mean", "grad_std", "snr", "weight_norm",
)

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
