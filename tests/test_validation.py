"""The estimator-validation study: grid expansion, config checks, serial vs Dask, refusals, bias
table."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest

from infoplane.config import ConfigError, validate_config
from infoplane.studies.validation import (
    COLUMNS,
    bias_table,
    run_validation,
    run_validation_task,
    validation_tasks,
)


def _spec(**validation) -> dict:
    """A ``validation`` section as the study receives it: through the config's validation."""
    return validate_config({"study": "t", "validation": validation})["validation"]


RAW = {
    "distributions": ["gaussian", "student_t", "label_gaussian"],
    "dims": [1, 2],
    "true_mi_bits": [0.5, 1.0],
    "n": [300],
    "seeds": [0, 1],
    "estimators": [{"name": "ksg", "k": 3}, {"name": "kl", "label": "kl-default"}],
}
TINY = _spec(**RAW)


def _without_seconds(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["distribution", "dim", "true_mi", "n", "seed", "estimator"]
    return df.drop(columns="seconds").sort_values(keys).reset_index(drop=True)


def test_tasks_expand_the_grid():
    tasks = validation_tasks(TINY)
    assert len(tasks) == 3 * 2 * 2 * 1 * 2 * 2
    assert {t["label"] for t in tasks} == {"ksg", "kl-default"}
    assert tasks[0]["estimator"] == {"name": "ksg", "k": 3}
    # the estimator varies fastest, so consecutive tasks share a sample draw
    assert [t["label"] for t in tasks[:2]] == ["ksg", "kl-default"]
    assert {k: tasks[0][k] for k in ("distribution", "dim", "true_mi_bits", "n", "seed")} == {
        "distribution": "gaussian", "dim": 1, "true_mi_bits": 0.5, "n": 300, "seed": 0}


def test_entry_restricted_to_distributions():
    spec = _spec(**{**RAW, "estimators": [
        {"name": "ksg"}, {"name": "kde", "noise_variance": 0.1, "distributions": ["label_gaussian"]}]})
    tasks = validation_tasks(spec)
    kde = [t for t in tasks if t["estimator"]["name"] == "kde"]
    assert len(kde) == 2 * 2 * 2  # label_gaussian only: dims x MIs x seeds
    assert {t["distribution"] for t in kde} == {"label_gaussian"}
    assert kde[0]["label"] == "kde"
    row = run_validation_task(kde[0])
    assert row["status"] == "ok" and np.isfinite(row["estimate"])
    # restricted to distributions outside the grid: the entry has no rows
    spec = _spec(**{**RAW, "estimators": [{"name": "ksg"}, {"name": "kde", "distributions": ["uniform_margins"]}]})
    assert {t["label"] for t in validation_tasks(spec)} == {"ksg"}


def test_refused_estimate_is_a_nan_row_with_the_reason():
    """kde needs a discrete side: on two continuous Gaussians it refuses, the row says why."""
    spec = _spec(**{**RAW, "distributions": ["gaussian"], "dims": [1], "true_mi_bits": [1.0], "seeds": [0],
                    "estimators": [{"name": "ksg"}, {"name": "kde", "noise_variance": 0.1}]})
    df = run_validation(spec, progress=False).set_index("estimator")
    assert df.loc["ksg", "status"] == "ok" and df.loc["ksg", "reason"] == ""
    assert df.loc["kde", "status"] == "refused" and np.isnan(df.loc["kde", "estimate"])
    assert df.loc["kde", "reason"].startswith("kde needs one continuous side"), df.loc["kde", "reason"]
    bt = bias_table(df.reset_index()).set_index("estimator")
    assert bt.loc["kde", "n_seeds"] == 0 and np.isnan(bt.loc["kde", "mean"])


def test_run_task_row():
    task = validation_tasks(_spec(**{**RAW, "distributions": ["gaussian"], "dims": [2], "true_mi_bits": [1.0],
                                     "seeds": [0]}))[0]
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
    from infoplane.parallel import dask_client

    with dask_client(2) as client:
        df = run_validation(TINY, client=client, progress=False)
    pd.testing.assert_frame_equal(_without_seconds(df), _without_seconds(serial_table))
    # same order as the serial run, not just the same rows
    pd.testing.assert_frame_equal(df.drop(columns="seconds"), serial_table.drop(columns="seconds"), check_exact=True)


def test_bias_table(serial_table):
    bt = bias_table(serial_table)
    assert len(bt) == 3 * 2 * 2 * 2
    assert (bt["n_seeds"] == 2).all()
    # one group by hand, with the statistics module rather than pandas
    first = serial_table.iloc[[0, 2]]  # gaussian, dim 1, 0.5 bits, ksg: seeds 0 and 1
    assert list(first["estimator"]) == ["ksg", "ksg"] and list(first["seed"]) == [0, 1]
    row = bt[(bt["distribution"] == "gaussian") & (bt["dim"] == 1) & (bt["true_mi"].round(9) == 0.5)
             & (bt["estimator"] == "ksg")].iloc[0]
    values = list(first["estimate"])
    assert row["mean"] == pytest.approx(statistics.fmean(values), abs=1e-12)
    assert row["std"] == pytest.approx(statistics.stdev(values), abs=1e-12)
    # every row: mean squared error = bias^2 + population variance (std has ddof 1; 2 seeds)
    np.testing.assert_allclose(bt["rmse"] ** 2, bt["bias"] ** 2 + bt["std"] ** 2 / 2, rtol=1e-9, atol=1e-15)


def test_bias_table_hand_example():
    df = pd.DataFrame(
        {
            "distribution": ["gaussian"] * 4,
            "dim": [1] * 4,
            "true_mi": [1.0] * 4,
            "n": [100] * 4,
            "seed": [0, 1, 2, 3],
            "estimator": ["e"] * 4,
            "estimate": [0.8, 1.0, 1.2, np.nan],  # seed 3 refused
            "se": [np.nan] * 4,
            "seconds": [0.1, 0.2, 0.3, 0.0],
            "status": ["ok", "ok", "ok", "refused"],
            "reason": ["", "", "", "too few samples"],
        }
    )
    row = bias_table(df).iloc[0]
    assert row["n_seeds"] == 3
    assert row["mean"] == pytest.approx(1.0)
    assert row["bias"] == pytest.approx(0.0, abs=1e-12)
    assert row["std"] == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / 2)
    assert row["rmse"] == pytest.approx(np.sqrt(0.08 / 3))  # sqrt((0.04 + 0 + 0.04) / 3)
    assert row["seconds"] == pytest.approx(0.15)  # mean over all four rows


@pytest.mark.parametrize(
    "change,message",
    [
        ({"dimz": [1]}, r"validation: unknown key 'dimz'"),
        ({"seeds": None}, r"validation: 'seeds' is a required property"),
        ({"dims": [0]}, r"validation\.dims\.0: 0 is out of range; must be >= 1"),
        ({"dims": []}, r"validation\.dims: \[\] should be non-empty"),
        ({"n": 300}, r"validation\.n: 300 has the wrong type; expected array"),
        ({"n": [5]}, r"validation\.n\.0: 5 is out of range; must be >= 10"),
        ({"true_mi_bits": [-1.0]}, r"validation\.true_mi_bits\.0: -1\.0 is out of range"),
        ({"distributions": ["gausian"]}, r"validation\.distributions\.0: 'gausian' is not allowed"),
        ({"estimators": [{"k": 3}]}, r"validation\.estimators\.0: 'name' is a required property"),
        ({"estimators": [{"name": "ksg", "kk": 3}]}, r"validation\.estimators\[0\]: .*kk"),
        ({"estimators": [{"name": "ksg"}, {"name": "ksg", "k": 3}]},
         r"validation\.estimators: two estimators share the label 'ksg'"),
        ({"estimators": [{"name": "kde", "distributions": ["label_gausian"]}]},
         r"validation\.estimators\.0\.distributions\.0: 'label_gausian' is not allowed"),
    ],
)
def test_bad_section_names_the_key(change, message):
    raw = {**RAW, **change}
    if change.get("seeds", 0) is None:
        del raw["seeds"]
    with pytest.raises(ConfigError, match=message):
        _spec(**raw)


def test_infeasible_cell_names_the_distribution():
    """A rule between values the schema cannot state: student_t needs MI above its tail MI."""
    spec = _spec(**{**RAW, "distributions": ["student_t"], "true_mi_bits": [0.0]})
    with pytest.raises(ValueError, match=r"validation\.true_mi_bits: 0 bits with student_t at dim=1"):
        validation_tasks(spec)
