"""Tests for infoplane.collect: per-seed MI and metrics tables merged into the study's tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from infoplane.collect import collect_geometry, collect_metrics, collect_study
from infoplane.tables import GEOMETRY_COLUMNS, METRIC_COLUMNS, MI_COLUMNS


def mi_table(seed: int) -> pd.DataFrame:
    rows = []
    for li, layer in enumerate(["1", "softmax"]):
        for epoch in (0, 5, 10):
            rows.append(dict(seed=seed, layer=layer, layer_index=li, epoch=epoch, split="all", estimator="ksg",
                             I_XT=10.0 * seed + li + epoch / 10, I_TY=0.1 * epoch, I_XT_se=np.nan,
                             I_TY_se=np.nan, status="ok", reason=""))
    return pd.DataFrame(rows, columns=list(MI_COLUMNS))


def metrics_table(seed: int) -> pd.DataFrame:
    epochs = np.arange(3)
    return pd.DataFrame({"seed": seed, "epoch": epochs[::-1], "train_loss": 1.0 - 0.1 * epochs,
                         "train_acc": 0.5, "eval_loss": 1.1, "eval_acc": 0.4})[list(METRIC_COLUMNS)]


@pytest.fixture
def per_seed(tmp_path):
    mi, met = [], []
    for seed in (1, 0):
        mi.append(tmp_path / f"mi_seed{seed}.csv")
        met.append(tmp_path / f"metrics_seed{seed}.csv")
        mi_table(seed).to_csv(mi[-1], index=False)
        metrics_table(seed).to_csv(met[-1], index=False)
    return mi, met


def test_collect_study_writes_csv_netcdf_metrics_and_provenance(tmp_path, per_seed):
    mi, met = per_seed
    out = tmp_path / "study"
    attrs = {"study": "tiny", "seeds": json.dumps([0, 1])}
    written = collect_study(mi, out / "mi.csv", out / "mi.nc", attrs, met, out / "metrics.csv")
    assert written == [out / "mi.csv", out / "mi.nc", out / "metrics.csv"]
    assert not list(out.glob("*.tmp"))
    table = pd.read_csv(out / "mi.csv", dtype={"layer": str})
    assert list(table.columns) == list(MI_COLUMNS) and len(table) == 2 * 2 * 3
    expected = pd.concat([mi_table(0), mi_table(1)])
    merged = table.merge(expected, on=["seed", "layer", "epoch"], suffixes=("", "_in"))
    np.testing.assert_allclose(merged["I_XT"], merged["I_XT_in"])
    ds = xr.open_dataset(out / "mi.nc", engine="h5netcdf")
    try:
        assert dict(ds.sizes) == {"estimator": 1, "seed": 2, "layer": 2, "epoch": 3, "split": 1}
        assert ds["I_XT"].attrs["units"] == "bits"
        assert float(ds["I_XT"].sel(seed=1, layer="softmax", epoch=10, estimator="ksg", split="all")) == \
            pytest.approx(12.0)
        assert ds.attrs["study"] == "tiny"
    finally:
        ds.close()
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics[["seed", "epoch"]].itertuples(index=False, name=None)) == [
        (s, e) for s in (0, 1) for e in (0, 1, 2)]
    side = json.loads((out / "mi.csv.provenance.json").read_text())
    assert side["study"] == "tiny"


def test_collect_refuses_bad_tables(tmp_path, per_seed):
    mi, met = per_seed
    bad = tmp_path / "bad.csv"
    metrics_table(0).drop(columns=["eval_acc"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv.*eval_acc"):
        collect_metrics([bad])
    with pytest.raises(ValueError, match="out_metrics"):
        collect_study(mi, tmp_path / "mi.csv", tmp_path / "mi.nc", {}, met, None)
    assert not (tmp_path / "mi.csv").exists()


def geometry_table(seed: int) -> pd.DataFrame:
    rows = [dict(seed=seed, layer=layer, layer_index=li, epoch=epoch, split=split, act_min=-li - epoch,
                 act_max=li + epoch, clustering=0.1 * epoch)
            for li, layer in enumerate(["1", "softmax"]) for epoch in (10, 0) for split in ("test", "all")]
    return pd.DataFrame(rows, columns=list(GEOMETRY_COLUMNS))


def test_collect_study_writes_the_geometry_table(tmp_path, per_seed):
    mi, met = per_seed
    geo = []
    for seed in (1, 0):
        geo.append(tmp_path / f"geometry_seed{seed}.csv")
        geometry_table(seed).to_csv(geo[-1], index=False)
    out = tmp_path / "study"
    written = collect_study(mi, out / "mi.csv", out / "mi.nc", {"study": "tiny"}, met, out / "metrics.csv",
                            geometry_paths=geo, out_geometry=out / "geometry.csv")
    assert written[-1] == out / "geometry.csv"
    table = pd.read_csv(out / "geometry.csv", dtype={"layer": str})
    assert list(table.columns) == list(GEOMETRY_COLUMNS) and len(table) == 2 * 8
    keys = list(table[["seed", "layer", "epoch", "split"]].itertuples(index=False, name=None))
    assert keys == [(s, lay, e, sp) for s in (0, 1) for lay in ("1", "softmax") for e in (0, 10)
                    for sp in ("all", "test")], "sorted by seed, layer, epoch, split (all before test)"
    expected = pd.concat([geometry_table(0), geometry_table(1)])
    merged = table.merge(expected, on=["seed", "layer", "epoch", "split"], suffixes=("", "_in"))
    np.testing.assert_array_equal(merged["act_max"], merged["act_max_in"])
    assert (out / "geometry.csv.provenance.json").exists()
    bad = tmp_path / "bad.csv"
    geometry_table(0).drop(columns=["clustering"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv: not a geometry table.*clustering"):
        collect_geometry([bad])
    with pytest.raises(ValueError, match="out_geometry"):
        collect_study(mi, tmp_path / "mi.csv", tmp_path / "mi.nc", {}, geometry_paths=geo)


def test_mi_netcdf_has_a_split_dimension(tmp_path):
    from infoplane.estimation import to_dataset

    rows = [mi_table(0).assign(split=split, I_XT=mi_table(0)["I_XT"] + k) for k, split in enumerate(["test", "all"])]
    ds = to_dataset(pd.concat(rows, ignore_index=True))
    assert list(ds["split"].values) == ["all", "test"]
    assert float(ds["I_XT"].sel(seed=0, layer="1", epoch=5, estimator="ksg", split="test")) == pytest.approx(0.5)
