"""The lossy-compression study (Butakov et al. 2024) on scikit-learn's 8x8 digits, small enough for
CI: stochastic conv net -> activation store -> X autoencoder + per-epoch PCA of every layer ->
compressed store -> KSG MI (k = 5; the config's estimator).

The assertions separate a working pipeline from one that returns a constant: I(T;Y) lies
between Fano's lower bound from the network's own accuracy and H(Y); it is far above the same
estimator with shuffled labels (the no-information control); it grows with training; and
softmax and log-softmax (a bijection apart) get equal estimates within the stated error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infoplane.config import validate_config

# Stated error of a KSG (k=5) estimate on ~540 evaluation samples of 4-d PCA codes, in bits.
# Measured on this setup: softmax vs log-softmax differ by at most 0.37 bits (PCA is not
# invariant to the log, so part of that is the compression); we allow 0.5. The KL estimator is
# NOT used here: on the saturating softmax it gave -3.7 bits for I(X;T) (see the issue note).
ERROR_BITS = 0.5

DIGITS_CFG = {
    "study": "digits_ci",
    "seeds": [0],
    "dataset": {"name": "digits", "train_fraction": 0.7},
    "model": {"kind": "conv", "noise": 0.001, "pool": False},
    "training": {"epochs": 4, "batch_size": 128, "lr": 0.002, "checkpoint_every": 2},
    "record": {"num_epochs": 3, "spacing": "linear", "samples": "eval"},
    "compression": {"x": {"method": "ae", "dim": 4, "epochs": 15, "lr": 0.002},
                    "layers": {"method": "pca", "dim": 4}},
    "estimators": [{"name": "ksg", "k": 5}],
    "analysis": {"x": "inputs"},
}


@pytest.fixture(scope="module")
def digits_table(tmp_path_factory):
    from infoplane.compressed import compress_store, fit_x_compressor
    from infoplane.estimation import estimate_stores
    from infoplane.training import train_run

    work = tmp_path_factory.mktemp("digits")
    cfg = validate_config(DIGITS_CFG)
    store = work / "activations" / "seed0.zarr"
    train_run(cfg, 0, store, work / "metrics.csv", work / "work", progress=False)
    fit_x_compressor(cfg, store, work / "x.npz", progress=False)
    compressed = work / "compressed" / "seed0.zarr"
    compress_store(cfg, store, compressed, work / "x.npz", progress=False)
    df = estimate_stores([compressed], cfg, workers=1, progress=False)
    import xarray as xr

    comp = xr.open_zarr(compressed, consolidated=False)
    raw = xr.open_zarr(store, consolidated=False)
    return {
        "df": df,
        "labels": comp["label"].values,
        # the last recorded epoch: compressed codes of every layer, and the raw softmax output
        "codes": {layer: comp[f"act_{layer}"].isel(epoch=-1).values for layer in ("1", "5", "softmax")},
        "softmax": raw["act_softmax"].isel(epoch=-1).values,
    }


def _entropy_bits(labels: np.ndarray) -> float:
    p = np.bincount(labels) / len(labels)
    return float(-(p[p > 0] * np.log2(p[p > 0])).sum())


def test_digits_outputs_are_finite_and_in_range(digits_table):
    df, labels = digits_table["df"], digits_table["labels"]
    assert set(df["layer"]) >= {"1", "2", "3", "4", "5", "softmax", "log_softmax"}
    assert (df["status"] == "ok").all()
    assert np.isfinite(df[["I_XT", "I_TY", "I_XT_se"]].to_numpy()).all() and (df["I_XT_se"] >= 0).all()
    h_y = _entropy_bits(labels)  # about log2(10) = 3.32 bits
    assert (df["I_TY"] <= h_y + ERROR_BITS).all(), (df["I_TY"].max(), h_y)


def test_softmax_information_is_above_fanos_bound(digits_table):
    """I(T;Y) >= I(argmax T; Y) >= H(Y) - h(Pe) - Pe log2(K - 1) (data processing, then Fano)
    for the softmax T, with Pe the network's error on these samples (measured: 22% error, bound
    1.8 bits, estimate 2.2 bits)."""
    df, labels, soft = digits_table["df"], digits_table["labels"], digits_table["softmax"]
    k = int(labels.max()) + 1
    pe = float(np.mean(soft.argmax(axis=1) != labels))
    assert 0 < pe < 0.5, pe  # trained: far better than chance (0.9)
    h_pe = -(pe * math.log2(pe) + (1 - pe) * math.log2(1 - pe))
    fano = _entropy_bits(labels) - h_pe - pe * math.log2(k - 1)
    last = df[(df["layer"] == "softmax") & (df["epoch"] == df["epoch"].max())]["I_TY"].iloc[0]
    assert last >= fano - ERROR_BITS, (last, fano)


def test_label_information_is_far_above_the_shuffled_control(digits_table):
    """The same estimator on the same codes with the labels shuffled (no information: measured
    -0.07 to 0.08 bits) against the table's I(T;Y) at the last epoch (measured 2.2-2.7 bits)."""
    from infoplane.estimators import get_estimator

    df, labels = digits_table["df"], digits_table["labels"]
    est = get_estimator("ksg", k=5)
    rng = np.random.default_rng(0)
    last = df[df["epoch"] == df["epoch"].max()].set_index("layer")["I_TY"]
    for layer, codes in digits_table["codes"].items():
        control = est.estimate(codes, rng.permutation(labels))
        assert abs(control) < 0.2, (layer, control)
        assert last[layer] > control + 1.5, (layer, last[layer], control)


def test_softmax_gains_label_information_with_training(digits_table):
    """The output layer at initialisation knows little about the label (measured 1.3 bits);
    after 4 epochs (78% accuracy) it knows much more (2.2 bits)."""
    df = digits_table["df"]
    soft = df[df["layer"] == "softmax"].set_index("epoch")["I_TY"].sort_index()
    assert soft.iloc[-1] - soft.iloc[0] > 0.5, soft


def test_softmax_and_log_softmax_agree(digits_table):
    df = digits_table["df"]
    soft = df[df["layer"] == "softmax"].set_index("epoch")
    logsoft = df[df["layer"] == "log_softmax"].set_index("epoch")
    assert len(soft) == len(logsoft) > 0
    diff = (soft[["I_XT", "I_TY"]] - logsoft[["I_XT", "I_TY"]]).abs()
    assert (diff.to_numpy() <= ERROR_BITS).all(), diff
