"""Tests for infoplane.summary (summary.csv): peak, final and late drop of I(X;T) per condition,
estimator, split and layer, on tables whose numbers are known by construction; rows that are not
ok are left out and counted; collect writes the table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from infoplane.collect import collect_study
from infoplane.summary import mi_summary, summary_keys
from infoplane.tables import MI_COLUMNS, MI_SUMMARY_COLUMNS

EPOCHS = (0, 10, 100, 1000)
#: I(X;T) per seed at EPOCHS (bits): seed 0 peaks at 10, seed 1 at 100, seed 2 at 10.
TRAJ = {0: [2.0, 5.0, 4.0, 3.0], 1: [2.0, 4.0, 6.0, 3.5], 2: [1.0, 3.0, 2.0, 2.0]}
#: Condition -> added to I(X;T); estimator -> I(X;T) multiplied by it.
CONDITIONS = {"activation-tanh": 0.0, "activation-relu": 10.0}
ESTIMATORS = {"bins": 1.0, "kde": 2.0}
LAYERS = ("1", "2")


def make_mi(split: bool = False) -> pd.DataFrame:
    """A sweep MI table: 2 conditions x 2 estimators x 2 layers x 3 seeds x 4 epochs (x 2 splits:
    the train split 1 bit above the all split). Layer 2 is layer 1 plus 0.5 bits."""
    rows = []
    for cond, offset in CONDITIONS.items():
        for est, scale in ESTIMATORS.items():
            for li, layer in enumerate(LAYERS):
                for seed, traj in TRAJ.items():
                    for epoch, value in zip(EPOCHS, traj, strict=True):
                        for sp in (("all", "train") if split else ("all",)):
                            ixt = scale * (value + offset) + 0.5 * li + (1.0 if sp == "train" else 0.0)
                            row = {"condition": cond, "model.activation": cond.split("-")[1], "seed": seed,
                                   "layer": layer, "layer_index": li, "epoch": epoch}
                            row["split"] = sp
                            row.update(estimator=est, I_XT=ixt, I_TY=0.1 * seed + 0.01 * epoch / 10,
                                       I_XT_se=np.nan, I_TY_se=np.nan, status="ok", reason="")
                            rows.append(row)
    return pd.DataFrame(rows)


def direct(traj: dict[int, list[float]]) -> dict[str, float]:
    """The summary numbers of per-seed trajectories (NaN = a row left out), computed directly."""
    peaks = {s: np.nanmax(v) for s, v in traj.items()}
    peak_epochs = {s: EPOCHS[int(np.nanargmax(v))] for s, v in traj.items()}
    finals = {s: v[-1] for s, v in traj.items()}
    drops = np.array([peaks[s] - finals[s] for s in traj])
    full = np.array([v for v in traj.values()])
    curve = full[:, ~np.isnan(full).any(axis=0)].mean(axis=0)
    kept = [e for e, ok in zip(EPOCHS, ~np.isnan(full).any(axis=0), strict=True) if ok]
    return {
        "n_seeds": len(traj),
        "I_XT_peak_mean": np.mean(list(peaks.values())), "I_XT_peak_std": np.std(list(peaks.values()), ddof=1),
        "peak_epoch_mean": np.mean(list(peak_epochs.values())),
        "I_XT_final_mean": np.mean(list(finals.values())), "I_XT_final_std": np.std(list(finals.values()), ddof=1),
        "I_XT_late_drop_mean": drops.mean(), "I_XT_late_drop_std": drops.std(ddof=1),
        "curve_I_XT_peak": curve.max(), "curve_peak_epoch": kept[int(np.argmax(curve))],
        "curve_I_XT_final": curve[-1], "curve_I_XT_late_drop": curve.max() - curve[-1],
    }


def row_of(summary: pd.DataFrame, cond: str, est: str, layer: str) -> pd.Series:
    hit = summary[(summary["condition"] == cond) & (summary["estimator"] == est) & (summary["layer"] == layer)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_summary_numbers_by_hand():
    """The tanh/bins/layer 1 numbers, worked out by hand from TRAJ."""
    r = row_of(mi_summary(make_mi()), "activation-tanh", "bins", "1")
    assert r["n_seeds"] == 3 and r["n_seeds_excluded"] == 0 and r["n_rows_excluded"] == 0
    assert r["final_epoch"] == 1000
    assert r["I_XT_peak_mean"] == pytest.approx(14 / 3)  # peaks 5, 6, 3
    assert r["peak_epoch_mean"] == pytest.approx(40.0)  # epochs 10, 100, 10
    assert r["I_XT_final_mean"] == pytest.approx(8.5 / 3)  # finals 3, 3.5, 2
    assert r["I_XT_late_drop_mean"] == pytest.approx(5.5 / 3)  # drops 2, 2.5, 1
    assert r["I_XT_late_drop_std"] == pytest.approx(np.std([2, 2.5, 1], ddof=1))
    # The seed-mean curve is (5/3, 4, 4, 8.5/3): it peaks first at epoch 10 (a tie with 100).
    assert r["curve_I_XT_peak"] == pytest.approx(4.0) and r["curve_peak_epoch"] == 10
    assert r["curve_I_XT_late_drop"] == pytest.approx(4.0 - 8.5 / 3)
    assert r["I_TY_final_mean"] == pytest.approx(0.1 + 0.01 * 100)  # 0.1 * mean seed + 0.001 * epoch


def test_summary_every_group_equals_a_direct_computation():
    summary = mi_summary(make_mi())
    assert len(summary) == len(CONDITIONS) * len(ESTIMATORS) * len(LAYERS)
    for cond, offset in CONDITIONS.items():
        for est, scale in ESTIMATORS.items():
            for li, layer in enumerate(LAYERS):
                traj = {s: [scale * (v + offset) + 0.5 * li for v in t] for s, t in TRAJ.items()}
                got = row_of(summary, cond, est, layer)
                for col, value in direct(traj).items():
                    assert got[col] == pytest.approx(value), (cond, est, layer, col)
    # Conditions and estimators differ where they should: the relu offset leaves drops alone,
    # the kde scale doubles them.
    tanh_bins = row_of(summary, "activation-tanh", "bins", "1")["I_XT_late_drop_mean"]
    assert row_of(summary, "activation-relu", "bins", "1")["I_XT_late_drop_mean"] == pytest.approx(tanh_bins)
    assert row_of(summary, "activation-tanh", "kde", "1")["I_XT_late_drop_mean"] == pytest.approx(2 * tanh_bins)


def test_rows_that_are_not_ok_are_left_out_and_counted():
    mi = make_mi()
    # One unreliable row at seed 1's peak: its peak falls to 4 at epoch 10.
    at = ((mi["condition"] == "activation-tanh") & (mi["estimator"] == "bins") & (mi["layer"] == "1")
          & (mi["seed"] == 1) & (mi["epoch"] == 100))
    mi.loc[at, ["I_XT", "status", "reason"]] = [-40.0, "unreliable", "negative estimate"]
    # Seed 2 diverges before the last epoch of relu/kde/layer 2: it has no final value.
    div = ((mi["condition"] == "activation-relu") & (mi["estimator"] == "kde") & (mi["layer"] == "2")
           & (mi["seed"] == 2) & (mi["epoch"] == 1000))
    mi.loc[div, ["I_XT", "I_TY", "status", "reason"]] = [np.nan, np.nan, "diverged", "loss is NaN"]
    summary = mi_summary(mi)

    r = row_of(summary, "activation-tanh", "bins", "1")
    assert (r["n_seeds"], r["n_seeds_excluded"], r["n_rows_excluded"]) == (3, 0, 1)
    traj = {s: list(t) for s, t in TRAJ.items()}
    traj[1][2] = np.nan
    for col, value in direct(traj).items():
        assert r[col] == pytest.approx(value), col
    assert r["I_XT_peak_mean"] == pytest.approx((5 + 4 + 3) / 3)  # not -40, not 6

    r = row_of(summary, "activation-relu", "kde", "2")
    assert (r["n_seeds"], r["n_seeds_excluded"], r["n_rows_excluded"]) == (2, 1, 1)
    traj = {s: [2 * (v + 10) + 0.5 for v in TRAJ[s]] for s in (0, 1)}
    for col, value in direct(traj).items():
        assert r[col] == pytest.approx(value), col
    # Every other group is untouched.
    others = summary[summary["n_rows_excluded"] == 0]
    assert len(others) == len(summary) - 2 and (others["n_seeds"] == 3).all()


def test_summary_columns_and_row_order():
    summary = mi_summary(make_mi())
    keys = ["condition", "model.activation", "estimator", "split", "layer", "layer_index"]
    assert summary_keys(make_mi()) == keys
    assert list(summary.columns) == ["condition", "model.activation", *MI_SUMMARY_COLUMNS]
    order = list(summary[["condition", "estimator", "layer"]].itertuples(index=False, name=None))
    assert order == [(c, e, layer) for c in CONDITIONS for e in ESTIMATORS for layer in LAYERS]
    tanh = make_mi().query("condition == 'activation-tanh'")
    plain = mi_summary(tanh.drop(columns=["condition", "model.activation"]))
    assert list(plain.columns) == list(MI_SUMMARY_COLUMNS)
    assert len(plain) == len(ESTIMATORS) * len(LAYERS)


def test_split_is_a_key_of_the_summary():
    summary = mi_summary(make_mi(split=True))
    assert list(summary.columns[:4]) == ["condition", "model.activation", "estimator", "split"]
    assert len(summary) == 2 * len(CONDITIONS) * len(ESTIMATORS) * len(LAYERS)
    both = summary[(summary["condition"] == "activation-tanh") & (summary["estimator"] == "bins")
                   & (summary["layer"] == "1")].set_index("split")
    assert both.loc["all", "I_XT_peak_mean"] == pytest.approx(14 / 3)
    assert both.loc["train", "I_XT_peak_mean"] == pytest.approx(14 / 3 + 1)
    assert both.loc["train", "I_XT_late_drop_mean"] == pytest.approx(both.loc["all", "I_XT_late_drop_mean"])


def test_one_seed_has_no_spread():
    summary = mi_summary(make_mi().query("seed == 0"))
    assert (summary["n_seeds"] == 1).all()
    assert summary["I_XT_peak_std"].isna().all() and summary["I_XT_late_drop_std"].isna().all()
    r = row_of(summary, "activation-tanh", "bins", "1")
    assert r["I_XT_late_drop_mean"] == pytest.approx(2.0) == r["curve_I_XT_late_drop"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.drop(columns=["status"]), "missing column.*'status'"),
        (lambda d: d.iloc[:0], "empty"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "more than one row"),
        (lambda d: d.assign(I_XT=d["I_XT"].astype(object).where(d.index > 0, "x")), "'I_XT' must be numeric"),
    ],
    ids=["column", "empty", "duplicate", "numeric"],
)
def test_bad_tables_raise(edit, message):
    with pytest.raises(ValueError, match=message):
        mi_summary(edit(make_mi()))


def test_collect_writes_the_summary_of_the_collected_table(tmp_path):
    mi = make_mi().query("condition == 'activation-tanh'").drop(columns=["condition", "model.activation"])
    paths = []
    for seed in (0, 1, 2):
        paths.append(tmp_path / f"seed{seed}.csv")
        mi[mi["seed"] == seed][list(MI_COLUMNS)].to_csv(paths[-1], index=False)
    out = tmp_path / "study"
    written = collect_study(paths, out / "mi.csv", out / "mi.nc", {"study": "s"}, out_summary=out / "summary.csv")
    assert written == [out / "mi.csv", out / "mi.nc", out / "summary.csv"]
    got = pd.read_csv(out / "summary.csv", dtype={"layer": str})
    expected = mi_summary(pd.read_csv(out / "mi.csv", dtype={"layer": str}))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert json.loads((out / "summary.csv.provenance.json").read_text())["study"] == "s"
