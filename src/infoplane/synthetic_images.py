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
``[seed, 0xAE]``). Every x or y image set has exactly that marginal distribution whatever the
true MI, so the one autoencoder serves both sides and every MI value; it is trained once per
process (memoised) or once per ``ae.cache_dir``. ``"data"`` follows the paper literally and
trains one autoencoder per side on the images being measured (slower: two per task).

All MI values in the tables are in **bits**; ``true_mi_nats`` in the spec is in nats because
the paper's grid (0..10 nats) is.

Tasks are independent and JSON-serialisable (:func:`synthetic_tasks`,
:func:`run_synthetic_task`) so a scheduler (Dask, Snakemake) can run them in parallel;
:func:`run_synthetic_images` runs them in order.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infoplane.units import bits_to_nats, nats_to_bits

__all__ = [
    "DEFAULT_SPEC",
    "LATENT_DIMS",
    "run_synthetic_images",
    "run_synthetic_task",
    "summarize_synthetic",
    "synthetic_tasks",
    "tolerance_band",
    "validate_synthetic_spec",
]

LATENT_DIMS = {"blobs": 2, "rectangles": 4}
"""Latent dimension of each image kind (as in Butakov et al.)."""

COMPRESSIONS = ("none", "pca", "ae")

TOLERANCE_REL = 0.10
"""The study's target: an estimate within 10% of the true MI ..."""

TOLERANCE_NATS = 0.10
"""... or within 0.1 nats of it (``summarize_synthetic``'s ``within_tolerance``, the figure's band)."""

DEFAULT_SPEC: dict[str, Any] = {
    "images": ["blobs", "rectangles"],
    "image_size": 16,
    "true_mi_nats": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "n": 5000,
    "seeds": [0, 1, 2],
    "compressions": ["none", "pca", "ae"],
    "estimators": [{"name": "ksg", "k": 5}, {"name": "kl", "k": 5}],
    "ae": {"epochs": 30, "lr": 1e-3, "dim": None, "fit_on": "independent", "cache_dir": None},
    "rectangle_min_pixels": 2.0,
    "pca_dim": None,
}

_AE_KEYS = {"epochs", "lr", "dim", "fit_on", "cache_dir", "batch_size", "noise"}

COLUMNS = [
    "image",
    "latent_dim",
    "true_mi",
    "n",
    "seed",
    "compression",
    "estimator",
    "estimate",
    "estimate_se",
    "compressed_dim",
    "image_size",
]


# ---------------------------------------------------------------------------------------------
# dependencies, looked up lazily (and patchable in tests)


def _uniform_margins(n: int, dim: int, mi_bits: float, seed: int):
    from infoplane.synthetic import uniform_margins

    return uniform_margins(n, dim, mi_bits, seed)


def _get_estimator(name: str, **params: Any):
    from infoplane.estimators import get_estimator

    return get_estimator(name, **params)


# ---------------------------------------------------------------------------------------------
# spec


def _fail(key: str, msg: str) -> None:
    raise ValueError(f"synthetic spec key {key!r}: {msg}")


def validate_synthetic_spec(spec: dict | None) -> dict:
    """Fill defaults (:data:`DEFAULT_SPEC`) and validate; ValueError naming the offending key."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ValueError(f"synthetic spec must be a mapping; got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(DEFAULT_SPEC))
    if unknown:
        _fail(unknown[0], f"unknown key; valid keys: {sorted(DEFAULT_SPEC)}")
    out = copy.deepcopy(DEFAULT_SPEC)
    for key, value in spec.items():
        if key == "ae":
            if not isinstance(value, dict):
                _fail("ae", f"must be a mapping; got {value!r}")
            bad = sorted(set(value) - _AE_KEYS)
            if bad:
                _fail(f"ae.{bad[0]}", f"unknown key; valid keys: {sorted(_AE_KEYS)}")
            out["ae"].update(value)
        else:
            out[key] = copy.deepcopy(value)

    images = out["images"]
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list) or not images:
        _fail("images", f"must be a non-empty list of {sorted(LATENT_DIMS)}; got {out['images']!r}")
    for im in images:
        if im not in LATENT_DIMS:
            _fail("images", f"unknown image kind {im!r}; choose from {sorted(LATENT_DIMS)}")
    out["images"] = list(dict.fromkeys(images))

    size = out["image_size"]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 4 <= int(size) <= 256:
        _fail("image_size", f"must be an integer in [4, 256]; got {size!r}")
    out["image_size"] = int(size)

    mis = out["true_mi_nats"]
    if isinstance(mis, (int, float)) and not isinstance(mis, bool):
        mis = [mis]
    if not isinstance(mis, list) or not mis:
        _fail("true_mi_nats", f"must be a non-empty list of numbers >= 0; got {out['true_mi_nats']!r}")
    for v in mis:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
            _fail("true_mi_nats", f"values must be finite numbers >= 0; got {v!r}")
    out["true_mi_nats"] = [float(v) for v in mis]

    n = out["n"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 20:
        _fail("n", f"must be an integer >= 20; got {n!r}")
    out["n"] = int(n)

    seeds = out["seeds"]
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        _fail("seeds", f"must be a non-empty list of integers >= 0; got {out['seeds']!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            _fail("seeds", f"values must be integers >= 0; got {s!r}")
    out["seeds"] = [int(s) for s in seeds]

    comps = out["compressions"]
    if isinstance(comps, str):
        comps = [comps]
    if not isinstance(comps, list):
        _fail("compressions", f"must be a list drawn from {list(COMPRESSIONS)}; got {comps!r}")
    for c in comps:
        if c not in COMPRESSIONS:
            _fail("compressions", f"unknown compression {c!r}; choose from {list(COMPRESSIONS)}")
    out["compressions"] = list(dict.fromkeys(comps))

    ests = out["estimators"]
    if isinstance(ests, (str, dict)):
        ests = [ests]
    if not isinstance(ests, list) or not ests:
        _fail("estimators", f"must be a non-empty list of {{name: ..., <params>}}; got {ests!r}")
    norm = []
    for e in ests:
        if isinstance(e, str):
            e = {"name": e}
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            _fail("estimators", f"each entry needs a string 'name'; got {e!r}")
        e = dict(e)
        label = e.pop("label", e["name"])
        name = e.pop("name")
        try:  # validates the name and the parameters now, before any work starts
            _get_estimator(name, **e)
        except ValueError as exc:
            _fail("estimators", str(exc))
        norm.append({"name": name, "label": str(label), "params": e})
    labels = [e["label"] for e in norm]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        _fail("estimators", f"two entries share the label {dup[0]!r}; give them distinct 'label' values")
    out["estimators"] = norm

    ae = out["ae"]
    if ae["fit_on"] not in ("independent", "data"):
        _fail("ae.fit_on", f"must be 'independent' or 'data'; got {ae['fit_on']!r}")
    if ae["dim"] is not None and (
        isinstance(ae["dim"], bool) or not isinstance(ae["dim"], (int, np.integer)) or ae["dim"] < 1
    ):
        _fail("ae.dim", f"must be a positive integer or null (= latent_dim); got {ae['dim']!r}")
    if ae["cache_dir"] is not None:
        ae["cache_dir"] = str(ae["cache_dir"])
    # the compressor checks epochs/lr/batch_size/noise and names them
    from infoplane.compression import ConvAutoencoder

    try:
        ConvAutoencoder(**_ae_params(ae, 1, 0))
    except ValueError as exc:
        _fail("ae", str(exc))

    mp = out["rectangle_min_pixels"]
    if isinstance(mp, bool) or not isinstance(mp, (int, float)) or not 0 <= mp < out["image_size"]:
        _fail("rectangle_min_pixels", f"must be a number in [0, image_size); got {mp!r}")
    out["rectangle_min_pixels"] = float(mp)

    pd_ = out["pca_dim"]
    if pd_ is not None and (isinstance(pd_, bool) or not isinstance(pd_, (int, np.integer)) or pd_ < 1):
        _fail("pca_dim", f"must be a positive integer or null (= latent_dim + 1); got {pd_!r}")
    return out


def _ae_params(ae: dict, dim: int, seed: int) -> dict:
    params = {"dim": int(ae["dim"] or dim), "epochs": ae["epochs"], "lr": ae["lr"], "seed": seed}
    for key in ("batch_size", "noise"):
        if key in ae:
            params[key] = ae[key]
    return params


# ---------------------------------------------------------------------------------------------
# tasks


def synthetic_tasks(spec: dict | None) -> list[dict]:
    """Independent, JSON-serialisable tasks, one per (image kind, true MI, seed).

    Each task carries everything :func:`run_synthetic_task` needs.
    """
    full = validate_synthetic_spec(spec)
    tasks = []
    for image in full["images"]:
        for mi in full["true_mi_nats"]:
            for seed in full["seeds"]:
                tasks.append(
                    {
                        "image": image,
                        "latent_dim": LATENT_DIMS[image],
                        "image_size": full["image_size"],
                        "true_mi_nats": mi,
                        "n": full["n"],
                        "seed": seed,
                        "compressions": list(full["compressions"]),
                        "estimators": copy.deepcopy(full["estimators"]),
                        "ae": dict(full["ae"]),
                        "rectangle_min_pixels": full["rectangle_min_pixels"],
                        "pca_dim": full["pca_dim"],
                    }
                )
    return tasks


def render(image: str, latent: np.ndarray, size: int, min_pixels: float = 2.0) -> np.ndarray:
    """Images (n, 1, size, size) float32 of latents (n, latent_dim) uniform on [0, 1]^d."""
    from infoplane.synthetic.images import gaussian_blobs, ordered_segments, rectangles

    lat = np.clip(np.asarray(latent, dtype=np.float64), 0.0, 1.0)
    if image == "blobs":
        imgs = gaussian_blobs(lat, size)
    elif image == "rectangles":
        imgs = rectangles(ordered_segments(lat, min_length=min_pixels / size), size)
    else:
        raise ValueError(f"unknown image kind {image!r}; choose from {sorted(LATENT_DIMS)}")
    return imgs[:, None]


_AE_MEMO: dict[str, Any] = {}


def _ae_key(task: dict) -> str:
    """Identifies the independent autoencoder of a task (image kind, size, n, seed, ae params)."""
    params = _ae_params(task["ae"], task["latent_dim"], task["seed"])
    return json.dumps(
        {
            "image": task["image"],
            "size": task["image_size"],
            "n": task["n"],
            "min_pixels": task["rectangle_min_pixels"],
            **params,
        },
        sort_keys=True,
    )


def _independent_ae(task: dict):
    """The autoencoder of (image kind, size, seed, ae params): memoised, optionally on disk."""
    from infoplane.compression import ConvAutoencoder, load_compressor

    params = _ae_params(task["ae"], task["latent_dim"], task["seed"])
    key = _ae_key(task)
    if key in _AE_MEMO:
        return _AE_MEMO[key]
    cache_file = None
    if task["ae"].get("cache_dir"):
        import hashlib

        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        cache_file = Path(task["ae"]["cache_dir"]) / f"ae_{task['image']}_{digest}.npz"
        if cache_file.is_file():
            _AE_MEMO[key] = load_compressor(cache_file)
            return _AE_MEMO[key]
    rng = np.random.default_rng([task["seed"], 0xAE])
    lat = rng.random((task["n"], task["latent_dim"]))
    imgs = render(task["image"], lat, task["image_size"], task["rectangle_min_pixels"])
    ae = ConvAutoencoder(**params).fit(imgs)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.partial.npz")
        ae.save(partial)
        os.replace(partial, cache_file)  # readers never see a half-written file
    _AE_MEMO[key] = ae
    return ae


def _fit_independent_ae(task: dict) -> str:
    """Fit (or load) the task's independent autoencoder into its ``ae.cache_dir``; return the key."""
    _independent_ae(task)
    return _ae_key(task)


def _prefit_autoencoders(tasks: list[dict], client) -> str | None:
    """Fit every distinct independent autoencoder once, in parallel on ``client``, into one cache
    directory that all tasks then read (otherwise each worker process would fit its own copy).

    Sets ``ae.cache_dir`` on the tasks that have none; returns a temporary directory the caller
    removes afterwards, or None when none was made.
    """
    import tempfile

    need = [t for t in tasks if "ae" in t["compressions"] and t["ae"]["fit_on"] == "independent"]
    if not need:
        return None
    made = None
    for t in need:
        if not t["ae"].get("cache_dir"):
            if made is None:
                made = tempfile.mkdtemp(prefix="infoplane-ae-")
            t["ae"]["cache_dir"] = made
    unique: dict[str, dict] = {}
    for t in need:
        unique.setdefault(_ae_key(t) + t["ae"]["cache_dir"], t)
    client.gather(client.map(_fit_independent_ae, list(unique.values()), pure=False, retries=2))
    return made


def _compress(task: dict, method: str, imgs_x: np.ndarray, imgs_y: np.ndarray):
    from infoplane.compression import ConvAutoencoder, PCACompressor

    n = imgs_x.shape[0]
    if method == "none":
        return imgs_x.reshape(n, -1).astype(np.float64), imgs_y.reshape(n, -1).astype(np.float64)
    if method == "pca":
        d = task.get("pca_dim") or task["latent_dim"] + 1
        return PCACompressor(d).fit_transform(imgs_x), PCACompressor(d).fit_transform(imgs_y)
    if method == "ae":
        if task["ae"]["fit_on"] == "independent":
            ae = _independent_ae(task)
            return ae.transform(imgs_x), ae.transform(imgs_y)
        params = _ae_params(task["ae"], task["latent_dim"], task["seed"])
        return (
            ConvAutoencoder(**params).fit_transform(imgs_x),
            ConvAutoencoder(**params).fit_transform(imgs_y),
        )
    raise ValueError(f"unknown compression {method!r}; choose from {list(COMPRESSIONS)}")


def _estimate_or_nan(est: dict, method: str, cx: np.ndarray, cy: np.ndarray, task: dict) -> tuple[float, float]:
    """The estimate and its standard error (bits), or NaN where the estimator refuses the data.

    Some estimators do not apply to some representations (``wkl`` refuses the raw pixels: too
    many dimensions for its bias weights). The refusal is printed to stderr with its reason and
    the row keeps NaN, which the summary and the figure leave out.
    """
    try:
        return _get_estimator(est["name"], **est["params"]).estimate_with_error(cx, cy)
    except ValueError as exc:
        print(
            f"synthetic images: {est['label']} on {task['image']} / {method} "
            f"(true {task['true_mi_nats']:g} nats, seed {task['seed']}): not estimated: {exc}",
            file=sys.stderr,
        )
        return float("nan"), float("nan")


def run_synthetic_task(task: dict) -> list[dict]:
    """Run one (image kind, true MI, seed) task; return one row per (compression, estimator).

    Rows have the columns of :data:`COLUMNS`; ``true_mi``, ``estimate`` and ``estimate_se``
    are in bits; ``compression`` is ``latent`` for the estimate on the latent vectors.
    """
    mi_bits = nats_to_bits(float(task["true_mi_nats"]))
    x_lat, y_lat, true_bits = _uniform_margins(task["n"], task["latent_dim"], mi_bits, task["seed"])
    x_lat, y_lat = np.asarray(x_lat), np.asarray(y_lat)
    size, mp = task["image_size"], task["rectangle_min_pixels"]
    imgs_x = render(task["image"], x_lat, size, mp)
    imgs_y = render(task["image"], y_lat, size, mp)

    pairs = [("latent", x_lat, y_lat)]
    for method in task["compressions"]:
        pairs.append((method, *_compress(task, method, imgs_x, imgs_y)))

    rows = []
    for method, cx, cy in pairs:
        for est in task["estimators"]:
            value, se = _estimate_or_nan(est, method, cx, cy, task)
            rows.append(
                {
                    "image": task["image"],
                    "latent_dim": int(task["latent_dim"]),
                    "true_mi": float(true_bits),
                    "n": int(task["n"]),
                    "seed": int(task["seed"]),
                    "compression": method,
                    "estimator": est["label"],
                    "estimate": float(value),
                    "estimate_se": float(se),
                    "compressed_dim": int(cx.shape[1]) if cx.ndim == 2 else 1,
                    "image_size": int(size),
                }
            )
    return rows


def run_synthetic_images(spec: dict | None, progress: bool = True, client=None) -> pd.DataFrame:
    """Run every task of the study; return the tidy results table (MI in bits).

    Tasks run in order in this process, or on a Dask ``client`` when given (tasks are independent
    and seeded, so the table is the same either way; rows keep the task order).

    Columns: ``image, latent_dim, true_mi, n, seed, compression, estimator, estimate,
    estimate_se, compressed_dim, image_size``.
    """
    from tqdm.auto import tqdm

    tasks = synthetic_tasks(spec)
    bar = tqdm(total=len(tasks), desc="synthetic images", file=sys.stderr, disable=not progress)
    results: list[list[dict]] = [[] for _ in tasks]
    if client is None:
        for i, task in enumerate(tasks):
            results[i] = run_synthetic_task(task)
            bar.update(1)
    else:
        import shutil

        from distributed import as_completed

        made = _prefit_autoencoders(tasks, client)
        try:
            futures = client.map(run_synthetic_task, tasks, pure=False, retries=2)
            index = {fut.key: i for i, fut in enumerate(futures)}
            for fut in as_completed(futures):
                results[index[fut.key]] = fut.result()
                bar.update(1)
        finally:
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)
    bar.close()
    rows = [row for chunk in results for row in chunk]
    return pd.DataFrame(rows, columns=COLUMNS)


def tolerance_band(true_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge (bits) of the target band around true MI values ``true_bits`` (bits).

    Half-width ``max(TOLERANCE_REL * |true|, TOLERANCE_NATS)`` (the latter converted to bits):
    an estimate inside is within 10% or within 0.1 nats of the truth.
    """
    t = np.asarray(true_bits, dtype=np.float64)
    half = np.maximum(TOLERANCE_REL * np.abs(t), nats_to_bits(TOLERANCE_NATS))
    return t - half, t + half


def summarize_synthetic(df: pd.DataFrame) -> pd.DataFrame:
    """Per (image, compression, estimator, true_mi): mean estimate and its errors.

    Returns columns ``image, compression, estimator, true_mi, true_mi_nats, n_seeds, mean,
    std, bias_bits, bias_nats, rel_error, within_tolerance``; ``within_tolerance`` is True
    when the mean is within 10% of the true MI or within 0.1 nats of it (the study's target,
    :func:`tolerance_band`). ``rel_error`` is NaN at zero true MI.
    """
    need = {"image", "compression", "estimator", "true_mi", "estimate"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"results table lacks column {missing[0]!r}")
    keys = ["image", "compression", "estimator", "true_mi"]
    g = df.groupby(keys, sort=True)["estimate"]
    out = g.agg(n_seeds="count", mean="mean", std="std").reset_index()
    out["true_mi_nats"] = bits_to_nats(out["true_mi"].to_numpy(dtype=float))
    out["bias_bits"] = out["mean"] - out["true_mi"]
    out["bias_nats"] = bits_to_nats(out["bias_bits"].to_numpy(dtype=float))
    true = out["true_mi"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_error"] = np.where(true > 0, out["bias_bits"].to_numpy(dtype=float) / true, np.nan)
    lo, hi = tolerance_band(true)
    mean = out["mean"].to_numpy(dtype=float)
    out["within_tolerance"] = (mean >= lo) & (mean <= hi)
    return out[
        ["image", "compression", "estimator", "true_mi", "true_mi_nats", "n_seeds", "mean", "std",
         "bias_bits", "bias_nats", "rel_error", "within_tolerance"]
    ]
