"""Tests for infoplane.plots: every figure from small synthetic tables, input validation,
diverged-seed exclusion and smoothing that keeps the raw points."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from infoplane import plots

EPOCHS = np.array([0, 1, 2, 3, 5, 8, 13, 22, 36, 60])
LAYERS = ["1", "2", "softmax"]


def make_mi(
    seeds=(0, 1), estimators=("binning",), diverged_seed: int | None = None
) -> pd.DataFrame:
    """MI table with fitting-then-compression trajectories (bits), se for odd seeds only."""
    rng = np.random.default_rng(0)
    rows = []
    all_seeds = list(seeds) + ([diverged_seed] if diverged_seed is not None else [])
    for est in estimators:
        for seed in all_seeds:
            for li, layer in enumerate(LAYERS):
                top = 12.0 - 3.0 * li
                for e in EPOCHS:
                    t = np.log1p(e) / np.log1p(EPOCHS[-1])
                    ixt = top * (0.6 + 0.4 * np.sin(np.pi * t)) + rng.normal(0, 0.1)
                    ity = (1.0 - 0.1 * li) * t**0.5 + rng.normal(0, 0.01)
                    bad = seed == diverged_seed
                    rows.append(
                        dict(
                            seed=seed,
                            layer=layer,
                            layer_index=li,
                            epoch=int(e),
                            estimator=est,
                            I_XT=np.nan if bad and e > 20 else ixt,
                            I_TY=np.nan if bad and e > 20 else ity,
                            I_XT_se=0.05 if seed % 2 else np.nan,
                            I_TY_se=0.01 if seed % 2 else np.nan,
                            status="diverged" if bad else "ok",
                            reason="loss is NaN at epoch 22" if bad else "",
                        )
                    )
    return pd.DataFrame(rows)


def make_metrics(seeds=(0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for seed in seeds:
        for e in range(0, 61):
            loss = 2.3 * np.exp(-e / 15) + 0.05 + rng.normal(0, 0.02)
            acc = 1 - 0.9 * np.exp(-e / 12) + rng.normal(0, 0.01)
            rows.append(
                dict(
                    seed=seed,
                    epoch=e,
                    train_loss=loss,
                    train_acc=min(acc, 1.0),
                    eval_loss=loss * 1.1 + 0.02,
                    eval_acc=min(acc * 0.97, 1.0),
                )
            )
    return pd.DataFrame(rows)


def make_validation() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for dist in ("gaussian", "student_t"):
        for dim in (1, 5):
            for true in (0.0, 0.5, 1.0, 2.0, 4.0):
                for est, bias in (("ksg", -0.05), ("kde", 0.3), ("binning", 0.6)):
                    for seed in range(3):
                        est_value = true * (1 - 0.04 * dim) + bias + rng.normal(0, 0.05)
                        rows.append(
                            dict(
                                distribution=dist,
                                dim=dim,
                                true_mi=true,
                                n=1000,
                                seed=seed,
                                estimator=est,
                                estimate=est_value,
                            )
                        )
    return pd.DataFrame(rows)


def make_synthetic_images() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for image, latent_dim in (("gaussian_blobs", 2), ("rectangles", 4)):
        for true in (0.5, 1.0, 2.0, 3.0):
            for comp, f in (("none", 0.3), ("pca", 0.8), ("ae", 0.9), ("latent", 1.0)):
                for seed in range(3):
                    rows.append(
                        dict(
                            image=image,
                            latent_dim=latent_dim,
                            true_mi=true,
                            n=2000,
                            seed=seed,
                            compression=comp,
                            estimator="ksg",
                            estimate=f * true + rng.normal(0, 0.05),
                        )
                    )
    return pd.DataFrame(rows)


def assert_figure_files(paths: list[Path]) -> None:
    """PNG and PDF exist, have content and the PNG is not blank."""
    suffixes = sorted(p.suffix for p in paths)
    assert suffixes == [".pdf", ".png"]
    for p in paths:
        assert p.is_file(), p
        assert p.stat().st_size > 5_000, (p, p.stat().st_size)
    png = next(p for p in paths if p.suffix == ".png")
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    assert float(img[..., :3].std()) > 0.02
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = next(p for p in paths if p.suffix == ".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def raw_point_count(fig) -> int:
    """Number of raw points drawn (scatter collections tagged gid='raw:...')."""
    total = 0
    for ax in fig.axes:
        for coll in ax.collections:
            gid = coll.get_gid()
            if gid and gid.startswith("raw:"):
                total += len(coll.get_offsets())
    return total


# ------------------------------------------------------------------ mean_over_seeds


def test_mean_over_seeds_excludes_diverged_seed_and_warns():
    mi = make_mi(seeds=(0, 1), diverged_seed=2)
    with pytest.warns(UserWarning, match="1 of 3 seeds") as record:
        mean, n_excluded = plots.mean_over_seeds(mi)
    assert n_excluded == 1
    assert "loss is NaN at epoch 22" in str(record[0].message)
    assert len(mean) == len(LAYERS) * len(EPOCHS)
    assert (mean["n_seeds"] == 2).all()
    ok = mi[mi["seed"].isin([0, 1])]
    expected = ok.groupby(["layer", "epoch"])["I_XT"].mean()
    got = mean.set_index(["layer", "epoch"])["I_XT"]
    np.testing.assert_allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy())
    # the diverged seed's values (including the NaNs after divergence) are not in the mean
    assert mean["I_XT"].notna().all()
    # with two seeds the drawn error is the across-seed std
    np.testing.assert_allclose(mean["I_XT_err"], mean["I_XT_std"])


def test_mean_over_seeds_no_warning_when_all_ok_and_se_used_for_one_seed():
    mi = make_mi(seeds=(1,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, n_excluded = plots.mean_over_seeds(mi)
    assert n_excluded == 0
    assert mean["I_XT_std"].isna().all()
    np.testing.assert_allclose(mean["I_XT_err"], 0.05)
    assert list(mean["layer"].unique()) == LAYERS  # in layer_index order


def test_impossible_estimates_are_not_drawn_and_named(tmp_path):
    """A mean below -0.5 bits (an estimator failure, e.g. KL on a saturated softmax) is masked in
    the figure data with a warning naming estimator, quantity, layer and count; the table keeps it."""
    mi = make_mi(seeds=(1,))
    layer = LAYERS[-1]
    rows = mi["layer"] == layer
    mi.loc[rows & (mi["epoch"] == EPOCHS[-1]), "I_XT"] = -26.3
    with pytest.warns(UserWarning, match=rf"I_XT of layer {layer} at 1 epoch \(down to -26\.3\)"):
        mean, _ = plots.mean_over_seeds(mi)
    bad = (mean["layer"] == layer) & (mean["epoch"] == EPOCHS[-1])
    assert mean.loc[bad, ["I_XT", "I_XT_err"]].isna().all().all()
    assert mean.loc[~bad, "I_XT"].notna().all() and mean["I_TY"].notna().all()
    assert "not drawn" in mean.attrs["not_drawn"]
    # a small negative value (within the error of an estimate of zero) is kept
    mi.loc[rows & (mi["epoch"] == EPOCHS[-1]), "I_XT"] = -0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, _ = plots.mean_over_seeds(mi)
    assert mean["I_XT"].notna().all()
    with pytest.warns(UserWarning):
        mi.loc[rows & (mi["epoch"] == EPOCHS[-1]), "I_XT"] = -26.3
        fig = plots.information_plane_figure(mi)
    assert "not drawn" in fig._suptitle.get_text()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_mean_over_seeds_all_diverged_raises():
    mi = make_mi(seeds=(), diverged_seed=3)
    with pytest.warns(UserWarning, match="1 of 1 seeds"):
        with pytest.raises(ValueError, match="all 1 seeds"):
            plots.mean_over_seeds(mi)


# ------------------------------------------------------------------ validation of inputs


@pytest.mark.parametrize("column", ["I_XT", "status", "layer_index"])
def test_missing_mi_column_raises_naming_it(column):
    mi = make_mi().drop(columns=[column])
    with pytest.raises(ValueError, match=f"MI table.*'{column}'"):
        plots.mean_over_seeds(mi)


def test_missing_column_in_csv_names_file(tmp_path):
    path = tmp_path / "metrics.csv"
    make_metrics().drop(columns=["eval_acc"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"metrics\.csv.*'eval_acc'"):
        plots.training_curves(path, tmp_path / "curves")


@pytest.mark.parametrize(
    "func, table",
    [
        (plots.estimator_validation, make_validation),
        (plots.synthetic_images, make_synthetic_images),
        (plots.information_plane, make_mi),
    ],
)
def test_missing_column_and_empty_table_raise(func, table, tmp_path):
    df = table()
    with pytest.raises(ValueError, match="'estimator'"):
        func(df.drop(columns=["estimator"]), tmp_path / "x")
    with pytest.raises(ValueError, match="empty"):
        func(df.iloc[:0], tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_unknown_estimator_and_bad_smoothing_raise(tmp_path):
    mi = make_mi()
    with pytest.raises(ValueError, match="'kde' is not in the MI table"):
        plots.information_plane(mi, tmp_path / "ip", estimator="kde")
    with pytest.raises(ValueError, match="odd"):
        plots.information_plane(mi, tmp_path / "ip", smoothing={"window": 4, "polyorder": 2})
    with pytest.raises(ValueError, match="polyorder"):
        plots.mi_vs_epoch(mi, tmp_path / "mi", smoothing={"window": 5, "polyorder": 5})
    with pytest.raises(ValueError, match="several estimators"):
        plots.dynamics_panel(make_mi(estimators=("binning", "ksg")), make_metrics(), tmp_path / "d")


def test_non_numeric_column_raises():
    mi = make_mi()
    mi["I_XT"] = mi["I_XT"].astype(object)
    mi.loc[0, "I_XT"] = "abc"
    with pytest.raises(ValueError, match="'I_XT' must be numeric"):
        plots.mean_over_seeds(mi)


# ------------------------------------------------------------------ smoothing


def test_smooth_reduces_noise_and_keeps_rows():
    epochs = np.arange(40)
    rng = np.random.default_rng(0)
    clean = np.sin(epochs / 8)
    df = pd.DataFrame(
        {
            "estimator": "ksg",
            "layer": "1",
            "epoch": epochs,
            "I_XT": clean + rng.normal(0, 0.2, 40),
            "I_TY": clean,
        }
    )
    out = plots.smooth(df, window=9, polyorder=2)
    assert len(out) == len(df) and list(out.index) == list(df.index)
    assert np.abs(out["I_XT"] - clean).mean() < np.abs(df["I_XT"] - clean).mean()
    # a quadratic-exact filter leaves a straight line unchanged
    df["I_TY"] = 0.5 * epochs
    np.testing.assert_allclose(plots.smooth(df, 7, 2)["I_TY"], df["I_TY"], atol=1e-9)


def test_smooth_short_series_is_left_raw():
    df = pd.DataFrame({"layer": "1", "epoch": [0, 1, 2], "I_XT": [1.0, 5.0, 2.0], "I_TY": 0.0})
    out = plots.smooth(df, window=11, polyorder=3)
    np.testing.assert_array_equal(out["I_XT"], df["I_XT"])


def test_information_plane_smoothing_keeps_raw_points():
    mi = make_mi(seeds=(0, 1))
    n_rows = len(LAYERS) * len(EPOCHS)
    plain = plots.information_plane_figure(mi)
    smoothed = plots.information_plane_figure(mi, smoothing={"window": 5, "polyorder": 2})
    assert raw_point_count(plain) == n_rows
    assert raw_point_count(smoothed) == n_rows
    lines = [
        ln for ax in smoothed.axes for ln in ax.lines if (ln.get_gid() or "").startswith("smooth:")
    ]
    assert len(lines) == len(LAYERS)
    # the smoothed line differs from the raw trajectory
    mean, _ = plots.mean_over_seeds(mi)
    raw_layer1 = mean.loc[mean["layer"] == "1", "I_XT"].to_numpy()
    smooth_layer1 = next(ln for ln in lines if ln.get_gid() == "smooth:1").get_xdata()
    assert len(smooth_layer1) == len(raw_layer1)
    assert not np.allclose(smooth_layer1, raw_layer1)


def test_mi_vs_epoch_smoothing_keeps_raw_points():
    mi = make_mi(seeds=(0, 1))
    fig = plots.mi_vs_epoch_figure(mi, smoothing={"window": 5, "polyorder": 2})
    assert raw_point_count(fig) == 2 * len(LAYERS) * len(EPOCHS)  # two panels


# ------------------------------------------------------------------ figures on disk


def test_information_plane_writes_png_and_pdf(tmp_path):
    mi = make_mi(seeds=(0, 1), estimators=("binning", "ksg"), diverged_seed=2)
    with pytest.warns(UserWarning, match="1 of 3 seeds"):
        paths = plots.information_plane(mi, tmp_path / "plane", study="tishby")
    assert paths == [tmp_path / "plane.png", tmp_path / "plane.pdf"]
    assert_figure_files(paths)


def test_information_plane_epoch_colour_scale_is_log():
    fig = plots.information_plane_figure(make_mi())
    coll = next(c for c in fig.axes[0].collections if (c.get_gid() or "").startswith("raw:"))
    norm = coll.norm
    # symmetric log: equal colour steps per decade above 1, epoch 0 at the bottom
    assert norm(0) == pytest.approx(0.0)
    assert norm(60) == pytest.approx(1.0)
    assert norm(1) > 0.05  # epoch 0 and epoch 1 are distinct colours
    assert norm(60) - norm(6) == pytest.approx(norm(10) - norm(1))  # one decade, one step
    cbar_labels = [ax.get_ylabel() for ax in fig.axes]
    assert any("epoch" in lab and "log" in lab for lab in cbar_labels)


def test_mi_vs_epoch_from_csv_and_explicit_paths(tmp_path):
    csv = tmp_path / "mi.csv"
    make_mi(seeds=(0, 1, 3)).to_csv(csv, index=False)
    out = [tmp_path / "figs" / "a.png", tmp_path / "figs" / "a.pdf"]
    paths = plots.mi_vs_epoch(csv, out, smoothing={"window": 5, "polyorder": 2})
    assert paths == out
    assert_figure_files(paths)


def test_axis_labels_are_in_bits():
    fig = plots.mi_vs_epoch_figure(make_mi())
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert "I(X;T) [bits]" in ylabels and "I(T;Y) [bits]" in ylabels
    fig = plots.information_plane_figure(make_mi())
    assert fig.axes[0].get_xlabel() == "I(X;T) [bits]"
    assert fig.axes[0].get_ylabel() == "I(T;Y) [bits]"


def test_training_curves(tmp_path):
    metrics = make_metrics(seeds=(0, 1, 2))
    metrics.loc[(metrics["seed"] == 2) & (metrics["epoch"] > 40), "train_loss"] = np.inf
    assert_figure_files(plots.training_curves(metrics, tmp_path / "curves"))


def test_dynamics_panel_excludes_diverged_seed_metrics(tmp_path):
    mi = make_mi(seeds=(0, 1), diverged_seed=2)
    metrics = make_metrics(seeds=(0, 1, 2))
    metrics.loc[metrics["seed"] == 2, "train_loss"] = 1e6  # would dominate the mean
    with pytest.warns(UserWarning, match="1 of 3 seeds"):
        fig = plots.dynamics_panel_figure(mi, metrics)
    loss_ax = fig.axes[2]
    assert max(np.nanmax(ln.get_ydata()) for ln in loss_ax.lines) < 10
    with pytest.warns(UserWarning):
        paths = plots.dynamics_panel(mi, metrics, tmp_path / "dyn", study="tishby")
    assert_figure_files(paths)


def test_estimator_validation_and_summary(tmp_path):
    table = make_validation()
    assert_figure_files(plots.estimator_validation(table, tmp_path / "val"))
    summary = plots.validation_summary(table)
    assert len(summary) == 2 * 2 * 5 * 3
    assert {"bias", "spread", "rmse", "n_seeds"} <= set(summary.columns)
    ksg = summary[(summary["estimator"] == "ksg") & (summary["dim"] == 1)]
    binning = summary[(summary["estimator"] == "binning") & (summary["dim"] == 1)]
    assert ksg["bias"].abs().mean() < binning["bias"].abs().mean()
    assert (summary["n_seeds"] == 3).all()
    assert (summary["spread"] > 0).all() and (summary["spread"] < 0.2).all()
    row = summary.iloc[0]
    sel = table[
        (table["distribution"] == row["distribution"])
        & (table["dim"] == row["dim"])
        & (table["true_mi"] == row["true_mi"])
        & (table["estimator"] == row["estimator"])
    ]
    assert row["bias"] == pytest.approx(sel["estimate"].mean() - row["true_mi"])


def test_estimator_validation_unknown_n_raises(tmp_path):
    with pytest.raises(ValueError, match="n=7"):
        plots.estimator_validation(make_validation(), tmp_path / "v", n=7)


def test_synthetic_images(tmp_path):
    paths = plots.synthetic_images(make_synthetic_images(), tmp_path / "syn", nats_axis=True)
    assert_figure_files(paths)


def test_synthetic_images_draws_the_target_band():
    from infoplane.synthetic_images import tolerance_band

    table = make_synthetic_images()
    fig = plots.synthetic_images_figure(table)
    ax = fig.axes[0]
    bands = [c for c in ax.collections if c.get_label().startswith("target")]
    assert len(bands) == 1
    verts = bands[0].get_paths()[0].vertices
    top = float(table["true_mi"].max())
    _, hi = tolerance_band(np.array([top]))
    assert verts[:, 0].max() == pytest.approx(top)
    assert verts[:, 1].max() == pytest.approx(hi[0])
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_pdf_is_reproducible(tmp_path):
    metrics = make_metrics(seeds=(0,))
    a = plots.training_curves(metrics, [tmp_path / "a.pdf"])
    b = plots.training_curves(metrics, [tmp_path / "b.pdf"])
    assert a == [tmp_path / "a.pdf"]
    assert a[0].read_bytes() == b[0].read_bytes()
