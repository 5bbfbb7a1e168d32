"""The table contracts: column names and order of the tables infoplane writes and reads.

One module so that the stage that writes a table and the figures that read it agree.
MI is in bits in every table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The sample splits an MI estimate can be computed on (config key ``analysis.split``), in the
#: order tables sort them: ``all`` = every sample of the store, ``train`` = the samples with
#: ``is_train``, ``test`` = the others (the held-out evaluation split).
SPLITS: tuple[str, ...] = ("all", "train", "test")

#: The MI table (``mi/<group>.csv``, ``mi.csv``): one row per (seed, layer, epoch, split,
#: estimator); ``split`` is one of :data:`SPLITS`.
MI_COLUMNS: tuple[str, ...] = (
    "seed", "layer", "layer_index", "epoch", "split", "estimator",
    "I_XT", "I_TY", "I_XT_se", "I_TY_se", "status", "reason",
)

#: The layer-geometry table (``geometry/<group>.csv``, ``geometry.csv``): one row per (seed,
#: layer, epoch, split): ``act_min``/``act_max`` the smallest and largest finite activation of
#: the layer on the split's samples (NaN when none is finite), ``clustering`` the silhouette of
#: the representations by class label (:func:`infoplane.geometry.class_clustering`; NaN unless
#: ``analysis.clustering`` is true).
GEOMETRY_COLUMNS: tuple[str, ...] = (
    "seed", "layer", "layer_index", "epoch", "split", "act_min", "act_max", "clustering",
)


def sweep_columns(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The extra columns in front of :data:`MI_COLUMNS`, :data:`METRIC_COLUMNS` and
    :data:`GEOMETRY_COLUMNS` in a sweep study's ``mi.csv``, ``metrics.csv`` and
    ``geometry.csv`` (each condition's own tables under ``<study>/<condition>/`` have none):
    ``condition`` (its name, e.g.
    ``activation-relu_lr-0.001``) and one column per swept key, named by the dotted key (e.g.
    ``model.activation``, ``training.lr``) in :data:`infoplane.config.SWEEP_KEYS` order, holding
    the condition's value (lists as in the name: widths ``10x7x5``, estimator labels joined by
    ``+``). ``()`` for a study without a sweep."""
    from infoplane.config import SWEEP_KEYS

    sweep = cfg.get("sweep") or {}
    return ("condition", *[key for key in SWEEP_KEYS if key in sweep]) if sweep else ()


#: The MI summary (``summary.csv``, :func:`infoplane.summary.mi_summary`): one row per (condition,
#: estimator, split, layer) of an MI table. In front of these columns: a sweep study's
#: :func:`sweep_columns`; after ``estimator``: ``split`` when the MI table has one. Over the seeds
#: whose row at the last recorded epoch (``final_epoch``) is ok (``n_seeds``; the others are
#: ``n_seeds_excluded``), from their ok rows only (``n_rows_excluded`` rows are not ok): per seed
#: the peak of I(X;T) over the recorded epochs and its epoch, I(X;T) and I(T;Y) at
#: ``final_epoch``, and the late drop peak - final, each as ``_mean`` and ``_std`` (ddof=1, NaN
#: with one seed) over seeds; ``curve_*`` are the same three numbers of the seed-mean curve.
#: MI in bits, epochs in training epochs.
MI_SUMMARY_COLUMNS: tuple[str, ...] = (
    "estimator", "split", "layer", "layer_index", "n_seeds", "n_seeds_excluded", "n_rows_excluded", "final_epoch",
    "I_XT_peak_mean", "I_XT_peak_std", "peak_epoch_mean", "peak_epoch_std",
    "I_XT_final_mean", "I_XT_final_std", "I_XT_late_drop_mean", "I_XT_late_drop_std",
    "curve_I_XT_peak", "curve_peak_epoch", "curve_I_XT_final", "curve_I_XT_late_drop",
    "I_TY_final_mean", "I_TY_final_std",
)

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
