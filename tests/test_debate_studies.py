"""The IB-debate studies (config/studies/saxe2018.yaml, chelombiev2019.yaml, goldfeld2019.yaml),
each shrunk to a tiny variant (1-2 seeds, a few epochs) and run through the whole DAG, with the
checks that hold at that size:

* saxe2018: the KDE lower bound never exceeds the upper one; fixed-width binning gives a layer
  more bins as its activations grow (30 bins on [-1, 1] cannot); the comparison figures exist.
* chelombiev2019: the range-fixed binning equals 30 bins over the layer's min and max over the
  whole run; every condition (tanh/ReLU/softplus x weight decay) is in the tables.
* goldfeld2019: the SP estimate of I(X;T) is within its error of an independent estimate with
  many more Monte Carlo draws, inside [0, log2 n]; clustering scores and their figure exist;
  the SGD diagnostics and their figure exist.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import REPO, snakemake

from infoplane.config import load_config
from infoplane.estimators import get_estimator
from infoplane.store import StoreReader
from infoplane.tables import SGD_COLUMNS


def tiny_variant(name: str, seeds: list[int], epochs: int, sweep: dict | None = None) -> dict:
    """The study's own config with fewer seeds and epochs (everything else as shipped)."""
    cfg = yaml.safe_load((REPO / "config" / "studies" / f"{name}.yaml").read_text())
    cfg["study"] = f"tiny_{name}"
    cfg["seeds"] = seeds
    cfg["training"].update(epochs=epochs, checkpoint_every=max(1, epochs // 2), seeds_per_job=len(seeds))
    cfg["record"].update(num_epochs=5)
    if sweep is not None:
        cfg["sweep"] = sweep
    return cfg


def run_study(tmp_path_factory, name: str, cfg: dict) -> Path:
    work = tmp_path_factory.mktemp(name)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake("--cores", "2", "--configfile", str(path), "--directory", str(work))
    return work / "results" / cfg["study"]


def stores(results: Path, condition: str = "") -> list[Path]:
    base = results / condition if condition else results
    return sorted(base.glob("activations/*/seed*.zarr"))


def figure(results: Path, stem: str) -> Path:
    path = results / "figures" / f"{stem}.png"
    assert path.exists() and path.stat().st_size > 10_000, path
    return path


# ------------------------------------------------------------------------------------ saxe2018


@pytest.fixture(scope="module")
def saxe(tmp_path_factory):
    return run_study(tmp_path_factory, "saxe2018", tiny_variant("saxe2018", [0, 1], 30))


def test_saxe_tables_hold_every_condition_and_estimator(saxe):
    mi = pd.read_csv(saxe / "mi.csv", dtype={"layer": str})
    assert set(mi["model.activation"]) == {"tanh", "relu"}
    assert set(mi["estimator"]) == {"bins30_pm1", "width_2_29", "kde_upper", "kde_lower"}
    assert (mi["status"] == "ok").all()
    summary = pd.read_csv(saxe / "summary.csv", dtype={"layer": str})
    assert len(summary) == 2 * 4 * mi["layer"].nunique()
    assert np.isfinite(summary["I_XT_late_drop_mean"]).all()
    for stem in ("sweep_information_plane", "compression_grid", "late_drop"):
        figure(saxe, stem)


def test_saxe_kde_lower_bound_below_upper(saxe):
    mi = pd.read_csv(saxe / "mi.csv", dtype={"layer": str})
    keys = ["condition", "seed", "layer", "epoch", "split"]
    both = mi[mi["estimator"] == "kde_upper"].merge(mi[mi["estimator"] == "kde_lower"], on=keys,
                                                    suffixes=("_up", "_lo"))
    assert len(both) == (mi["estimator"] == "kde_upper").sum() > 0
    assert (both["I_XT_lo"] <= both["I_XT_up"] + 1e-9).all()
    assert (both["I_TY_lo"] <= both["I_TY_up"] + 1e-9).all()
    assert (both["I_XT_up"] - both["I_XT_lo"]).max() > 0.01  # two different bounds, not one number


def test_saxe_fixed_width_bins_grow_with_the_activations(saxe):
    """On the recorded ReLU layers, scaling the activations up (a layer that grows) gives
    fixed-width binning more occupied bins and never less I(X;T) = H(T); once every positive
    value is above 1, 30 bins on [-1, 1] no longer change with the scale."""
    cfg = load_config(REPO / "config" / "studies" / "saxe2018.yaml")
    params = {e["label"]: {k: v for k, v in e.items() if k not in ("name", "label")} for e in cfg["estimators"]}
    width = get_estimator("binning", **params["width_2_29"])
    fixed = get_estimator("binning", **params["bins30_pm1"])
    reader = StoreReader(stores(saxe, "activation-relu")[0])
    ids = np.arange(reader.variable("label").shape[0])
    grew = 0
    for layer in ("1", "2", "3"):
        t = reader.layer_epochs(layer, -1 + len(reader.variable("epoch")), len(reader.variable("epoch")))[0]
        bins = [len(np.unique(np.floor(s * t / width.params["width"]), axis=0)) for s in (1.0, 4.0)]
        assert bins[1] >= bins[0]
        grew += bins[1] > bins[0]
        assert width.estimate(ids, 4.0 * t) >= width.estimate(ids, t) - 1e-12
        # 30 bins on [-1, 1] put every value above 1 in the last bin: far beyond 1, a larger
        # scale leaves that binning unchanged while fixed-width bins keep resolving it
        if t.max() > 0:
            big = 2.0 / float(t[t > 0].min())
            assert fixed.estimate(ids, big * t) == fixed.estimate(ids, 2 * big * t)
    assert grew >= 1


# ------------------------------------------------------------------------------- chelombiev2019


@pytest.fixture(scope="module")
def chelombiev(tmp_path_factory):
    # two weight decays of the shipped three (without and with, at the code's default)
    cfg = tiny_variant("chelombiev2019", [0], 20,
                       sweep={"model.activation": ["tanh", "relu", "softplus"], "training.weight_decay": [0.0, 0.015]})
    return run_study(tmp_path_factory, "chelombiev2019", cfg)


def test_chelombiev_every_condition_and_estimator(chelombiev):
    mi = pd.read_csv(chelombiev / "mi.csv", dtype={"layer": str})
    pairs = set(zip(mi["model.activation"], mi["training.weight_decay"], strict=True))
    assert pairs == {(a, w) for a in ("tanh", "relu", "softplus") for w in (0.0, 0.015)}
    assert set(mi["estimator"]) == {"adaptive30", "bins30_run"}
    assert (mi["status"] == "ok").all()
    sgd = pd.read_csv(chelombiev / "sgd.csv", dtype={"layer": str})
    assert list(sgd.columns[-len(SGD_COLUMNS):]) == list(SGD_COLUMNS)
    figure(chelombiev, "late_drop")


def test_chelombiev_run_range_is_the_layer_range_over_the_whole_run(chelombiev):
    """bins30_run at every epoch equals 30 bins on [min, max] of that layer over all recorded
    epochs of the seed (read back from the store)."""
    mi = pd.read_csv(chelombiev / "mi.csv", dtype={"layer": str})
    condition = "activation-relu_weight_decay-0.015"
    reader = StoreReader(stores(chelombiev, condition)[0])
    n_epochs = len(reader.variable("epoch"))
    ids = np.arange(reader.variable("label").shape[0])
    for layer in ("1", "3", "softmax"):
        slab = reader.layer_epochs(layer, 0, n_epochs)
        lo, hi = float(slab.min()), float(slab.max())
        est = get_estimator("binning", bins=30, range=(lo, hi))
        rows = mi[(mi["condition"] == condition) & (mi["estimator"] == "bins30_run") & (mi["layer"] == layer)]
        rows = rows.sort_values("epoch")
        assert len(rows) == n_epochs
        direct = [est.estimate(ids, slab[i].reshape(len(ids), -1)) for i in range(n_epochs)]
        np.testing.assert_array_equal(rows["I_XT"].to_numpy(), np.array(direct))


# --------------------------------------------------------------------------------- goldfeld2019


@pytest.fixture(scope="module")
def goldfeld(tmp_path_factory):
    return run_study(tmp_path_factory, "goldfeld2019", tiny_variant("goldfeld2019", [0], 20))


def test_goldfeld_sp_within_its_error_of_a_finer_estimate(goldfeld):
    """The table's SP estimate of I(X;T) of the last hidden layer at the last epoch is within 4
    combined standard errors of an independent estimate with 16x the Monte Carlo draws."""
    cfg = load_config(REPO / "config" / "studies" / "goldfeld2019.yaml")
    beta = float(cfg["model"]["additive_noise"])
    mi = pd.read_csv(goldfeld / "mi.csv", dtype={"layer": str})
    sp_rows = mi[mi["estimator"] == "sp"]
    assert (sp_rows["I_XT"] >= -4 * sp_rows["I_XT_se"]).all()
    assert (sp_rows["I_XT"] <= 12 + 4 * sp_rows["I_XT_se"] + 1e-9).all()
    assert (sp_rows["I_TY"] <= 1 + 4 * sp_rows["I_TY_se"] + 1e-9).all()
    reader = StoreReader(stores(goldfeld)[0])
    last = len(reader.variable("epoch")) - 1
    epoch = int(reader.variable("epoch")[last])
    t = reader.layer_epochs("5", last, last + 1)[0]
    ids = np.arange(len(t))
    row = sp_rows[(sp_rows["layer"] == "5") & (sp_rows["epoch"] == epoch) & (sp_rows["split"] == "all")].iloc[0]
    fine, fine_se = get_estimator("sp", beta=beta, samples=32, seed=123).estimate_with_error(ids, t)
    assert row["I_XT_se"] > 0
    assert abs(row["I_XT"] - fine) <= 4 * np.hypot(row["I_XT_se"], fine_se) + 1e-9


def test_goldfeld_clustering_and_sgd_figures(goldfeld):
    geo = pd.read_csv(goldfeld / "geometry.csv", dtype={"layer": str})
    assert geo["clustering"].notna().all() and geo["clustering"].between(-1, 1).all()
    sgd = pd.read_csv(goldfeld / "sgd.csv", dtype={"layer": str})
    recorded = pd.read_csv(goldfeld / "mi.csv")["epoch"].nunique()
    assert len(sgd) == recorded * sgd["layer"].nunique()
    assert (sgd.loc[sgd["epoch"] > 0, "grad_std"] > 0).all()
    for stem in ("clustering", "sgd_phases", "information_plane"):
        figure(goldfeld, stem)

