"""Synthetic-images study: does lossy compression let k-NN estimators recover known MI?

Reproduces the synthetic experiments of Butakov et al. (ICLR 2024, "Information Bottleneck
Analysis of Deep Neural Networks via Lossy Compression", section on synthetic tests). For each
image kind, true MI value and seed:

1. draw latents ``x_lat, y_lat = uniform_margins(n, latent_dim, true_mi, seed)``: uniform
   margins on [0, 1]^latent_dim with a known I(x_lat; y_lat) (latent_dim 2 for blobs, 4 for
   rectangles);
2. render both sides as images: Gaussian blobs centred at the latent
   (:func:`infoplane.synthetic.images.gaussian_blobs`), or anti-aliased rectangles whose
   corners are the latent mapped bijectively to ordered segments
   (:func:`~infoplane.synthetic.images.ordered_segments` with a minimum side of
   ``rectangle_min_pixels`` pixels, which keeps the rendering injective; then
   :func:`~infoplane.synthetic.images.rectangles`). The rendering is injective, so
   I(images_x; images_y) = I(x_lat; y_lat);
3. estimate the MI between the two image sets after each compression: ``none`` (raw pixels,
   size*size dimensions per side: the k-NN estimator is expected to fail), ``pca``
   (``pca_dim`` principal components per side, fitted on that side's images; the default
   ``latent_dim + 1`` because the images lie on a curved ``latent_dim``-dimensional manifold
   that ``latent_dim`` linear components cannot embed without folding it -- measured at 5 nats,
   n = 5000, KSG: 2 components of blob images give 3.83 nats, 3 components 4.42, the latents
   themselves 4.50) and ``ae``
   (a :class:`~infoplane.compression.ConvAutoencoder` with a ``latent_dim``-dimensional code),
   plus ``latent``: the same estimator on the latent vectors themselves (the estimator's own
   error without any compression).

Autoencoder training (``ae.fit_on``): ``"independent"`` (default) trains one autoencoder per
(image kind, seed) on ``n`` images rendered from a *separate* uniform draw of latents (seeded
``[seed, 0xAE]``, :func:`fit_autoencoder`). Every x or y image set has exactly that marginal
distribution whatever the true MI, so the one autoencoder serves both sides and every MI value.
It is an artifact of its own (the workflow's ``synthetic_autoencoder`` rule writes
``results/<study>/autoencoders/<image>_seed<s>.npz``, :func:`autoencoder_file`), fitted once and
read by every task of that (image kind, seed). ``"data"`` follows the paper literally and trains
one autoencoder per side on the images being measured (slower: two per task).

An estimator that refuses an input (a ``ValueError``: ``wkl`` on raw pixels, too many
dimensions) gives a NaN row with ``status`` ``refused`` and its message in ``reason``
(:func:`infoplane.studies.common.estimate_or_refuse`); the summary counts only finite estimates.

All MI values in the tables are in **bits**; ``true_mi_nats`` in the config is in nats because
the paper's grid (0..10 nats) is. Every function takes the ``synthetic`` section of a config
validated by :func:`infoplane.config.validate_config` (defaults filled, types trusted).

Tasks are independent and JSON-serialisable (:func:`synthetic_tasks`,
:func:`run_synthetic_task`) so a Dask client can run them in parallel;
:func:`run_synthetic_images` runs them all (serially or on a client).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infoplane.compression import ConvAutoencoder, PCACompressor, load_compressor
from infoplane.config import estimator_label, estimator_params
from infoplane.estimators import get_estimator
from infoplane.studies.common import estimate_or_refuse
from infoplane.synthetic import uniform_margins
from infoplane.synthetic.images import gaussian_blobs, ordered_segments, rectangles
from infoplane.tables import SYNTHETIC_COLUMNS, SYNTHETIC_SUMMARY_COLUMNS
from infoplane.units import bits_to_nats, nats_to_bits

__all__ = [
    "COLUMNS",
    "LATENT_DIMS",
    "SUMMARY_COLUMNS",
    "autoencoder_file",
    "fit_autoencoder",
    "needed_autoencoders",
    "render",
    "run_synthetic_images",
    "run_synthetic_task",
    "summarize_synthetic",
    "synthetic_tasks",
    "tolerance_band",
]

LATENT_DIMS = {"blobs": 2, "rectangles": 4}
"""Latent dimension of each image kind (as in Butakov et al.)."""

TOLERANCE_REL = 0.10
"""The study's target: an estimate within 10% of the true MI ..."""

TOLERANCE_NATS = 0.10
"""... or within 0.1 nats of it (the summary's ``within_tolerance`` and target band)."""

AE_SEED_SALT = 0xAE
"""Second word of the seed of an independent autoencoder's training latents ``[seed, 0xAE]``."""

COLUMNS = list(SYNTHETIC_COLUMNS)
"""Columns of the results table (``synthetic.csv``, :data:`infoplane.tables.SYNTHETIC_COLUMNS`):
one row per (image, true MI, seed, compression, estimator); ``true_mi``, ``estimate``,
``estimate_se`` in bits."""

SUMMARY_COLUMNS = list(SYNTHETIC_SUMMARY_COLUMNS)
"""Columns of the summary table (``synthetic_summary.csv``)."""


# ---------------------------------------------------------------------------------- images


def render(image: str, latent: np.ndarray, size: int, min_pixels: float = 2.0) -> np.ndarray:
    """Images (n, 1, size, size) float32 of latents (n, latent_dim) uniform on [0, 1]^d."""
    lat = np.clip(np.asarray(latent, dtype=np.float64), 0.0, 1.0)
    if image == "blobs":
        imgs = gaussian_blobs(lat, size)
    else:
        imgs = rectangles(ordered_segments(lat, min_length=min_pixels / size), size)
    return imgs[:, None]


# ---------------------------------------------------------------------------------- autoencoders


def autoencoder_params(spec: Mapping[str, Any], image: str, seed: int) -> dict[str, Any]:
    """:class:`~infoplane.compression.ConvAutoencoder` arguments of (image kind, seed)."""
    ae = spec["ae"]
    return {
        "dim": int(ae["dim"] or LATENT_DIMS[image]),
        "epochs": ae["epochs"],
        "lr": ae["lr"],
        "seed": int(seed),
        "batch_size": ae["batch_size"],
        "noise": ae["noise"],
    }


def fit_autoencoder(spec: Mapping[str, Any], image: str, seed: int, progress: bool = False) -> ConvAutoencoder:
    """The independent autoencoder of (image kind, seed), fitted on ``n`` images of a separate
    uniform draw of latents (seeded ``[seed, 0xAE]``)."""
    rng = np.random.default_rng([int(seed), AE_SEED_SALT])
    lat = rng.random((spec["n"], LATENT_DIMS[image]))
    imgs = render(image, lat, spec["image_size"], spec["rectangle_min_pixels"])
    return ConvAutoencoder(**autoencoder_params(spec, image, seed), progress=progress).fit(imgs)


def autoencoder_file(directory: str | Path, image: str, seed: int) -> Path:
    """Where the independent autoencoder of (image kind, seed) lives: ``<dir>/<image>_seed<s>.npz``."""
    return Path(directory) / f"{image}_seed{int(seed)}.npz"


def needed_autoencoders(spec: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(image kind, seed) of every independent autoencoder the study reads (none unless
    ``compressions`` has ``ae`` and ``ae.fit_on`` is ``independent``)."""
    if "ae" not in spec["compressions"] or spec["ae"]["fit_on"] != "independent":
        return []
    return [(image, int(seed)) for image in spec["images"] for seed in spec["seeds"]]


# ---------------------------------------------------------------------------------- tasks


def synthetic_tasks(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Independent, JSON-serialisable tasks ``{image, true_mi_nats, seed}``, one per
    (image kind, true MI, seed), image kind varying slowest."""
    return [
        {"image": image, "true_mi_nats": float(mi), "seed": int(seed)}
        for image in spec["images"]
        for mi in spec["true_mi_nats"]
        for seed in spec["seeds"]
    ]


def _compress(spec: Mapping[str, Any], task: Mapping[str, Any], method: str, imgs_x: np.ndarray,
              imgs_y: np.ndarray, autoencoder: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    n = imgs_x.shape[0]
    if method == "none":
        return imgs_x.reshape(n, -1).astype(np.float64), imgs_y.reshape(n, -1).astype(np.float64)
    if method == "pca":
        d = spec["pca_dim"] or LATENT_DIMS[task["image"]] + 1
        return PCACompressor(d).fit_transform(imgs_x), PCACompressor(d).fit_transform(imgs_y)
    if spec["ae"]["fit_on"] == "independent":
        if autoencoder is None:
            raise ValueError(
                f"synthetic.ae: the independent autoencoder of {task['image']} / seed {task['seed']} "
                "is not given; fit it first (fit_autoencoder, or `infoplane synthetic-autoencoder`)"
            )
        ae = load_compressor(autoencoder)
        return ae.transform(imgs_x), ae.transform(imgs_y)
    params = autoencoder_params(spec, task["image"], task["seed"])
    return ConvAutoencoder(**params).fit_transform(imgs_x), ConvAutoencoder(**params).fit_transform(imgs_y)


def run_synthetic_task(spec: Mapping[str, Any], task: Mapping[str, Any],
                       autoencoder: str | Path | None = None) -> list[dict[str, Any]]:
    """Run one (image kind, true MI, seed) task; return one row per (compression, estimator).

    Parameters
    ----------
    spec : the validated ``synthetic`` section.
    task : one entry of :func:`synthetic_tasks`.
    autoencoder : the file of the task's independent autoencoder (:func:`autoencoder_file`);
        needed only when ``compressions`` has ``ae`` and ``ae.fit_on`` is ``independent``.

    Rows have the columns :data:`COLUMNS`; ``true_mi``, ``estimate`` and ``estimate_se`` are in
    bits; ``compression`` is ``latent`` for the estimate on the latent vectors.
    """
    image, seed, dim = task["image"], int(task["seed"]), LATENT_DIMS[task["image"]]
    x_lat, y_lat, true_bits = uniform_margins(spec["n"], dim, nats_to_bits(float(task["true_mi_nats"])), seed)
    size = spec["image_size"]
    imgs_x = render(image, x_lat, size, spec["rectangle_min_pixels"])
    imgs_y = render(image, y_lat, size, spec["rectangle_min_pixels"])

    pairs = [("latent", np.asarray(x_lat), np.asarray(y_lat))]
    for method in spec["compressions"]:
        pairs.append((method, *_compress(spec, task, method, imgs_x, imgs_y, autoencoder)))

    rows = []
    for method, cx, cy in pairs:
        for entry in spec["estimators"]:
            result = estimate_or_refuse(get_estimator(entry["name"], **estimator_params(entry)), cx, cy)
            rows.append({
                "image": image, "latent_dim": dim, "true_mi": float(true_bits), "n": int(spec["n"]),
                "seed": seed, "compression": method, "estimator": estimator_label(entry),
                "estimate": result["estimate"], "estimate_se": result["se"],
                "compressed_dim": int(cx.shape[1]), "image_size": int(size),
                "status": result["status"], "reason": result["reason"],
            })
    return rows


def run_synthetic_images(spec: Mapping[str, Any], autoencoder_dir: str | Path | None = None,
                         client: Any = None, progress: bool = True) -> pd.DataFrame:
    """Run every task of the study; return the results table (:data:`COLUMNS`, MI in bits).

    Parameters
    ----------
    spec : the validated ``synthetic`` section.
    autoencoder_dir : directory holding the independent autoencoders
        (:func:`autoencoder_file` of every :func:`needed_autoencoders` pair).
    client : a ``distributed.Client`` to run the tasks on, or None to run them in order here.
        Tasks are seeded and compressors fix their thread count, so the table is the same,
        bit for bit, either way; rows keep the task order.
    progress : show a progress bar on stderr.
    """
    from tqdm.auto import tqdm

    tasks = synthetic_tasks(spec)
    needed = set(needed_autoencoders(spec))
    files = [
        str(autoencoder_file(autoencoder_dir, t["image"], t["seed"]))
        if (t["image"], t["seed"]) in needed and autoencoder_dir is not None else None
        for t in tasks
    ]
    bar = tqdm(total=len(tasks), desc="synthetic images", file=sys.stderr, disable=not progress)
    if client is None:
        results = []
        for task, path in zip(tasks, files, strict=True):
            results.append(run_synthetic_task(spec, task, path))
            bar.update(1)
    else:
        from distributed import as_completed

        futures = client.map(run_synthetic_task, [dict(spec)] * len(tasks), tasks, files, pure=False)
        for _ in as_completed(futures):
            bar.update(1)
        results = client.gather(futures)
    bar.close()
    return pd.DataFrame([row for chunk in results for row in chunk], columns=COLUMNS)


# ---------------------------------------------------------------------------------- summary


def tolerance_band(true_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge (bits) of the target band around true MI values ``true_bits`` (bits).

    Half-width ``max(TOLERANCE_REL * |true|, TOLERANCE_NATS)`` (the latter converted to bits):
    an estimate inside is within 10% or within 0.1 nats of the truth.
    """
    t = np.asarray(true_bits, dtype=np.float64)
    half = np.maximum(TOLERANCE_REL * np.abs(t), nats_to_bits(TOLERANCE_NATS))
    return t - half, t + half


def summarize_synthetic(df: pd.DataFrame) -> pd.DataFrame:
    """Per (image, compression, estimator, true_mi): mean estimate over seeds and its errors.

    Returns the columns :data:`SUMMARY_COLUMNS` (MI in bits unless the name says nats):
    ``n_seeds`` counts the finite estimates (refused rows are NaN and left out), ``mean`` and
    ``std`` (ddof 1) are over them, ``bias_bits = mean - true_mi``, ``rel_error = bias / true_mi``
    (NaN at zero true MI), ``target_lo_bits``/``target_hi_bits`` the edges of the study's target
    band (:func:`tolerance_band`: within 10% of the true MI or within 0.1 nats of it) and
    ``within_tolerance`` whether the mean lies inside it.
    """
    keys = ["image", "compression", "estimator", "true_mi"]
    out = df.groupby(keys, sort=True)["estimate"].agg(n_seeds="count", mean="mean", std="std").reset_index()
    true = out["true_mi"].to_numpy(dtype=float)
    mean = out["mean"].to_numpy(dtype=float)
    out["true_mi_nats"] = bits_to_nats(true)
    out["bias_bits"] = mean - true
    out["bias_nats"] = bits_to_nats(mean - true)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_error"] = np.where(true > 0, (mean - true) / true, np.nan)
    out["target_lo_bits"], out["target_hi_bits"] = tolerance_band(true)
    out["within_tolerance"] = (mean >= out["target_lo_bits"]) & (mean <= out["target_hi_bits"])
    return out[SUMMARY_COLUMNS]
