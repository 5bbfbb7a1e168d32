"""The compression stage of a study (Butakov et al., ICLR 2024): compress X and every layer
before estimating MI, and store the compressed representations so estimators can be swapped
without recomputing them.

- X: one compressor per study (``compression.x``), fitted once on the recorded inputs and cached
  as an artifact (``results/<study>/compressors/x.npz``), so every seed and epoch reuses it.
- Layers: ``compression.layers`` is fitted per (layer, epoch) on the recorded activations (PCA to
  ``min(dim, width)`` dims, as the authors do, or an autoencoder).

The compressed store has the activation store's layout: ``act_<L>`` (epoch, sample, unit_<L>)
holds the compressed layer, ``inputs`` the compressed X; labels, ids and attrs are carried over.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from infoplane.compression import load_compressor, make_compressor
from infoplane.store import EPOCH_VARS, create_store, finalize_store, open_store, write_epoch

_METHOD_KEYS = {"none": ("method",), "pca": ("method", "dim"), "ae": ("method", "dim", "epochs", "lr", "seed")}


def compressor_spec(section: dict[str, Any]) -> dict[str, Any]:
    """The keys of a config compressor section that its method uses."""
    return {k: section[k] for k in _METHOD_KEYS[section["method"]] if k in section}


def input_shape(ds) -> tuple[int, ...]:
    """Shape of one input sample recorded in a store's attrs (flat when unknown)."""
    shape = ds.attrs.get("input_shape")
    if shape:
        return tuple(int(s) for s in shape)
    return (int(ds.sizes["input_unit"]),)


def fit_x_compressor(cfg: dict[str, Any], store: Path, out: Path, progress: bool = True) -> None:
    """Fit the study's X compressor on the inputs recorded in ``store`` and save it to ``out``."""
    ds = open_store(store)
    shape = input_shape(ds)
    x = np.asarray(ds["inputs"].values, dtype=np.float32).reshape((-1, *shape))
    spec = compressor_spec(cfg["compression"]["x"])
    if spec["method"] == "ae":
        spec["progress"] = progress
    comp = make_compressor(spec, shape).fit(x)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    comp.save(tmp)
    os.replace(tmp, out)


def compress_store(cfg: dict[str, Any], store: Path, out: Path, x_compressor: Path | None,
                   progress: bool = True) -> None:
    """Write the compressed version of an activation store to ``out`` (atomically).

    Parameters
    ----------
    cfg : validated config (uses ``compression``).
    store : the activation store of one seed.
    out : the compressed store (a Zarr directory; written to ``<out>.partial`` then renamed).
    x_compressor : the fitted X compressor, or None to keep the raw inputs.
    """
    from tqdm.auto import tqdm

    ds = open_store(store)
    layers = list(ds.attrs["layers"])
    shape = input_shape(ds)
    inputs = np.asarray(ds["inputs"].values, dtype=np.float32)
    if x_compressor is not None:
        comp = load_compressor(x_compressor)
        inputs = comp.transform(inputs.reshape((-1, *shape)))
    spec = compressor_spec(cfg["compression"]["layers"])
    epochs = np.asarray(ds["epoch"].values)

    def compress_layer(a: np.ndarray) -> np.ndarray:
        if spec["method"] == "none" or not np.all(np.isfinite(a)):
            return a
        return make_compressor(spec, (a.shape[1],)).fit(a).transform(a)

    first = {name: compress_layer(np.asarray(ds[f"act_{name}"].isel(epoch=0).values)) for name in layers}
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    attrs = {k: v for k, v in ds.attrs.items() if k != "complete"}
    attrs["compression"] = json.dumps(cfg["compression"], sort_keys=True)
    attrs["source_store"] = str(store)
    create_store(
        tmp,
        layers={name: arr.shape[1] for name, arr in first.items()},
        epochs=epochs,
        sample_id=np.asarray(ds["sample_id"].values),
        label=np.asarray(ds["label"].values),
        is_train=np.asarray(ds["is_train"].values),
        inputs=inputs,
        attrs=attrs,
    )
    bar = tqdm(total=len(epochs), desc="compress", unit="epoch", disable=not progress, file=sys.stderr)
    for i in range(len(epochs)):
        acts = first if i == 0 else {
            name: compress_layer(np.asarray(ds[f"act_{name}"].isel(epoch=i).values)) for name in layers
        }
        metrics = {v: float(ds[v].values[i]) for v in EPOCH_VARS if v in ds}
        write_epoch(tmp, i, acts, metrics)
        bar.update(1)
    bar.close()
    finalize_store(tmp, status=str(ds.attrs.get("status", "ok")), reason=str(ds.attrs.get("reason", "")))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def compress_stores(cfg: dict[str, Any], stores: list[Path], outdir: Path, x_compressor: Path | None,
                    progress: bool = True) -> None:
    """Compress each activation store of a seed group into ``outdir/<store name>`` (see
    :func:`compress_store`)."""
    for store in stores:
        compress_store(cfg, Path(store), Path(outdir) / Path(store).name, x_compressor, progress=progress)
