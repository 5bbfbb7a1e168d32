"""The estimator-validation driver: grid expansion, spec checks, serial vs Dask, bias table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from infoplane.validation import (
    COLUMNS,
    bias_table,
    estimator_label,
    run_validation,
    run_validation_task,
    validation_tasks,
)

TINY = {
    "distributions": ["gaussian", "student_t", "label_gaussian"],
    "dims": [1, 2],
    "true_mi_bits": [0.5, 1.0],
    "n": [300],
    "seeds": [0, 1],
    "estimators": [{"name": "ksg", "k": 3}, {"name": "kl", "label": "kl-default"}],
}


def _without_seconds(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["distribution", "dim", "true_mi", "n", "seed", "estimator"]
    return df.drop(columns="seconds").sort_values(keys).reset_index(drop=True)


def test_tasks_expand_the_grid():
    tasks = validation_tasks(TINY)
    assert len(tasks) == 3 * 2 * 2 * 1 * 2 * 2
    assert {t["label"] for t in tasks} == {"ksg(k=3)", "kl-default"}
    assert tasks[0]["estimator"] == {"name": "ksg", "k": 3}
    # the estimator varies fastest, so consecutive tasks share a sample draw
    assert [t["label"] for t in tasks[:2]] == ["ksg(k=3)", "kl-default"]


def test_entry_restricted_to_distributions():
    spec = {**TINY, "estimators": [{"name": "ksg"}, {"name": "kde", "noise_variance": 0.1, "distributions": ["label_gaussian"]}]}
    tasks = validation_tasks(spec)
    kde = [t for t in tasks if t["estimator"]["name"] == "kde"]
    assert len(kde) == 2 * 2 * 2  # label_gaussian only: dims x MIs x seeds
    assert {t["distribution"] for t in kde} == {"label_gaussian"}
    assert estimator_label(kde[0]["estimator"]) == "kde(noise_variance=0.1)"
    row = run_validation_task(kde[0])
    assert np.isfinite(row["estimate"])
    with pytest.raises(ValueError, match=r"estimators\[1\]\.distributions"):
        validation_tasks({**spec, "estimators": [{"name": "ksg"}, {"name": "kde", "distributions": ["uniform_margins"]}]})


def test_estimator_label():
    assert estimator_label({"name": "ksg"}) == "ksg"
    assert estimator_label({"name": "binning", "range": "auto", "bins": 30}) == "binning(bins=30, range='auto')"
    assert estimator_label({"name": "ksg", "k": 3, "label": "mine"}) == "mine"


def test_run_task_row():
    task = validation_tasks({**TINY, "distributions": ["gaussian"], "dims": [2], "true_mi_bits": [1.0], "seeds": [0]})[0]
    row = run_validation_task(task)
    assert list(row) == list(COLUMNS)
    assert row["true_mi"] == pytest.approx(1.0)
    assert abs(row["estimate"] - 1.0) < 0.3
    assert row["se"] > 0 and row["seconds"] >= 0


@pytest.fixture(scope="module")
def serial_table():
    return run_validation(TINY, client=None, progress=False)


def test_serial_table(serial_table):
    df = serial_table
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 3 * 2 * 2 * 2 * 2
    assert set(df["distribution"]) == {"gaussian", "student_t", "label_gaussian"}
    np.testing.assert_allclose(sorted(set(df["true_mi"].round(9))), [0.5, 1.0])
    assert np.all(np.isfinite(df["estimate"]))
    # sanity: the estimates track the truth at these easy settings
    assert (df["estimate"] - df["true_mi"]).abs().median() < 0.3


def test_dask_gives_the_same_table(serial_table):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True, silence_logs=40
    ) as cluster, distributed.Client(cluster) as client:
        df = run_validation(TINY, client=client, progress=False)
    pd.testing.assert_frame_equal(_without_seconds(df), _without_seconds(serial_table))
    # same order as the serial run, not just the same rows
    pd.testing.assert_frame_equal(df.drop(columns="seconds"), serial_table.drop(columns="seconds"))


def test_bias_table(serial_table):
    bt = bias_table(serial_table)
    assert len(bt) == 3 * 2 * 2 * 2
    for col in ["distribution", "dim", "n", "true_mi", "estimator", "mean", "bias", "std", "rmse", "n_seeds"]:
        assert col in bt.columns
    assert (bt["n_seeds"] == 2).all()
    row = bt.iloc[0]
    sel = serial_table[
        (serial_table["distribution"] == row["distribution"])
        & (serial_table["dim"] == row["dim"])
        & (serial_table["true_mi"] == row["true_mi"])
        & (serial_table["estimator"] == row["estimator"])
    ]["estimate"]
    assert row["mean"] == pytest.approx(sel.mean())
    assert row["bias"] == pytest.approx(sel.mean() - row["true_mi"])
    assert row["std"] == pytest.approx(sel.std(ddof=1))
    assert row["rmse"] == pytest.approx(np.sqrt(((sel - row["true_mi"]) ** 2).mean()))
    assert (bt["rmse"] >= bt["bias"].abs() - 1e-12).all()


def test_bias_table_hand_example():
    df = pd.DataFrame(
        {
            "distribution": ["gaussian"] * 3,
            "dim": [1] * 3,
            "true_mi": [1.0] * 3,
            "n": [100] * 3,
            "seed": [0, 1, 2],
            "estimator": ["e"] * 3,
            "estimate": [0.8, 1.0, 1.2],
            "se": [np.nan] * 3,
            "seconds": [0.1] * 3,
        }
    )
    row = bias_table(df).iloc[0]
    assert row["mean"] == pytest.approx(1.0)
    assert row["bias"] == pytest.approx(0.0, abs=1e-12)
    assert row["std"] == pytest.approx(0.2)
    assert row["rmse"] == pytest.approx(np.sqrt(0.08 / 3))


@pytest.mark.parametrize(
    "change,key",
    [
        ({"dimz": [1]}, "dimz"),
        ({"seeds": None}, "seeds"),
        ({"dims": [0]}, "dims"),
        ({"dims": []}, "dims"),
        ({"n": 300}, "n"),
        ({"true_mi_bits": [-1.0]}, "true_mi_bits"),
        ({"distributions": ["gausian"]}, "distributions"),
        ({"estimators": [{"k": 3}]}, "estimators"),
        ({"estimators": [{"name": "ksg", "kk": 3}]}, "estimators"),
        ({"estimators": [{"name": "ksg"}, {"name": "ksg"}]}, "estimators"),
        ({"distributions": ["student_t"], "true_mi_bits": [0.0]}, "true_mi_bits"),
    ],
)
def test_bad_spec_raises_naming_the_key(change, key):
    spec = {**TINY, **change}
    if change.get("seeds", 0) is None:
        del spec["seeds"]
    with pytest.raises(ValueError, match=key):
        validation_tasks(spec)
