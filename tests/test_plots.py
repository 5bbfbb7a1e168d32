"""Tests for infoplane.plots: the drawn data equal the tables' seed means and summaries, panel
counts, files that decode at the expected size, no overlapping text at any length of notes or
titles, input validation, diverged-seed exclusion and smoothing that keeps the raw points."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from PIL import Image

from infoplane import plots
from infoplane.tables import MI_COLUMNS

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
                            split="all",
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
        for e in range(61):
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
    """Per-seed validation table (the study's validation.csv), bits."""
    rng = np.random.default_rng(2)
    rows = []
    for dist in ("gaussian", "student_t"):
        for dim in (1, 5):
            for true in (0.0, 0.5, 1.0, 2.0, 4.0):
                for est, bias in (("ksg", -0.05), ("kde", 0.3), ("binning", 0.6), ("wkl", 0.1)):
                    for seed in range(3):
                        rows.append(dict(distribution=dist, dim=dim, true_mi=true, n=1000, seed=seed,
                                         estimator=est,
                                         estimate=true * (1 - 0.04 * dim) + bias + rng.normal(0, 0.05),
                                         se=0.05, seconds=0.01, status="ok", reason=""))
    return pd.DataFrame(rows)


def make_validation_summary(raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """The validation summary with the columns of the study's validation_summary.csv."""
    raw = make_validation() if raw is None else raw
    keys = ["distribution", "dim", "n", "true_mi", "estimator"]
    g = raw.groupby(keys)["estimate"]
    out = g.agg(mean="mean", std="std", n_seeds="size").reset_index()
    out.insert(out.columns.get_loc("mean") + 1, "bias", out["mean"] - out["true_mi"])
    out["rmse"] = np.sqrt(raw.assign(sq=(raw["estimate"] - raw["true_mi"]) ** 2).groupby(keys)["sq"].mean()).to_numpy()
    out["seconds"] = 0.01
    return out


def target_band(true_bits) -> tuple[np.ndarray, np.ndarray]:
    """A target band for the fixtures: within 10% or 0.1 nats (0.1443 bits)."""
    t = np.asarray(true_bits, dtype=float)
    half = np.maximum(0.1 * t, 0.1 / np.log(2))
    return t - half, t + half


def make_synthetic_raw() -> pd.DataFrame:
    """Per-seed synthetic-images table (the study's synthetic.csv), bits; wkl refuses raw pixels."""
    rng = np.random.default_rng(3)
    rows = []
    for image in ("blobs", "rectangles"):
        for true in (0.0, 1.0, 2.0, 3.0):
            for comp, f in (("none", 0.3), ("pca", 0.8), ("ae", 0.9), ("latent", 1.0)):
                for est in ("ksg", "wkl"):
                    for seed in range(3):
                        value = f * true + rng.normal(0, 0.05)
                        rows.append(dict(image=image, true_mi=true, n=2000, seed=seed, compression=comp,
                                         estimator=est,
                                         estimate=np.nan if (est, comp) == ("wkl", "none") else value))
    return pd.DataFrame(rows)


def make_synthetic_summary(raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """The synthetic summary with the study's columns and the target band columns."""
    raw = make_synthetic_raw() if raw is None else raw
    g = raw.groupby(["image", "compression", "estimator", "true_mi"])["estimate"]
    out = g.agg(n_seeds="count", mean="mean", std="std").reset_index()
    out["target_lo_bits"], out["target_hi_bits"] = target_band(out["true_mi"])
    return out


def make_sweep_mi(conditions=("activation-tanh", "activation-relu"), estimators=("binning", "ksg"),
                  split: bool = False) -> pd.DataFrame:
    """A sweep's MI table: make_mi per condition (the second condition 2 bits higher) with the
    condition columns in front; with ``split``, a train split 1 bit above the all split."""
    parts = []
    for i, cond in enumerate(conditions):
        mi = make_mi(seeds=(0, 1, 2), estimators=estimators)
        mi["I_XT"] += 2.0 * i
        mi.insert(0, "model.activation", cond.rsplit("-", 1)[-1])
        mi.insert(0, "condition", cond)
        parts.append(mi)
    mi = pd.concat(parts, ignore_index=True)
    if split:
        train = mi.assign(split="train", I_XT=mi["I_XT"] + 1.0)
        mi = pd.concat([mi.assign(split="all"), train], ignore_index=True)
        cols = list(mi.columns)
        cols.insert(cols.index("epoch") + 1, cols.pop(cols.index("split")))
        mi = mi[cols]
    return mi


LONG_CONDITIONS = ("activation-tanh_batch_size-64_lr-0.0004", "activation-relu_batch_size-64_lr-0.0004",
                   "activation-sigmoid_batch_size-256_lr-0.0004", "activation-elu_batch_size-256_lr-0.01")


def make_summary(mi: pd.DataFrame) -> pd.DataFrame:
    """The study's summary.csv of an MI table."""
    from infoplane.summary import mi_summary

    return mi_summary(mi)


def make_geometry(mi: pd.DataFrame) -> pd.DataFrame:
    """A geometry table (geometry.csv) for the seeds, layers and epochs of ``mi``: clustering rises
    with log-epoch, deeper layers more; NaN on the softmax layer."""
    keys = [c for c in ("condition", "seed", "layer", "layer_index", "epoch") if c in mi.columns]
    geo = mi[keys].drop_duplicates().reset_index(drop=True)
    rng = np.random.default_rng(5)
    geo.insert(geo.columns.get_loc("epoch") + 1, "split", "all")
    geo["act_min"], geo["act_max"] = -1.0, 1.0
    geo["clustering"] = (np.log1p(geo["epoch"]) / np.log1p(60) * (1 + 0.2 * geo["layer_index"])
                         + rng.normal(0, 0.03, len(geo)))
    geo.loc[geo["layer"] == "softmax", "clustering"] = np.nan
    return geo


# ------------------------------------------------------------------ helpers


def text_boxes(fig) -> list[tuple[str, Bbox]]:
    """Window extents (pixels) of every visible, non-empty text of a figure, rendered with Agg:
    titles (figure, subfigure, axes), axis labels, offset texts, drawn tick labels, texts inside
    axes, figure texts (notes) and legends (one box per legend); colour bars and secondary axes
    included."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes: list[tuple[str, Bbox]] = []
    seen: set[int] = set()

    def add(name: str, artist) -> None:
        if artist is None or not artist.get_visible() or id(artist) in seen:
            return
        seen.add(id(artist))
        if isinstance(artist, Text) and not artist.get_text().strip():
            return
        bb = artist.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            boxes.append((name, bb))

    figures, stack = [], [fig]
    while stack:
        f = stack.pop()
        figures.append(f)
        stack.extend(getattr(f, "subfigs", []))
    for k, f in enumerate(figures):
        add(f"figure {k} title", f._suptitle)
        for t in f.texts:
            add(f"figure {k} text {t.get_text()[:30]!r}", t)
        for leg in f.legends:
            add(f"figure {k} legend", leg)
    axes = list(fig.axes)
    axes += [child for ax in fig.axes for child in ax.child_axes]
    for i, ax in enumerate(axes):
        for t in (ax.title, ax._left_title, ax._right_title):
            add(f"axes {i} title {t.get_text()[:30]!r}", t)
        for axis_name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            add(f"axes {i} {axis_name} label {axis.label.get_text()!r}", axis.label)
            add(f"axes {i} {axis_name} offset", axis.offsetText)
            for tick in axis._update_ticks():
                for label in (tick.label1, tick.label2):
                    add(f"axes {i} {axis_name} tick {label.get_text()!r}", label)
        for t in ax.texts:
            add(f"axes {i} text {t.get_text()[:30]!r}", t)
        if ax.get_legend() is not None:
            add(f"axes {i} legend", ax.get_legend())
    return boxes


def overlapping_texts(fig, tolerance_px: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of text boxes of ``fig`` that overlap by more than ``tolerance_px`` in both
    directions."""
    boxes = text_boxes(fig)
    pairs = []
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1:]:
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            if w > tolerance_px and h > tolerance_px:
                pairs.append((name_a, name_b))
    return pairs


def assert_no_overlap(fig) -> None:
    pairs = overlapping_texts(fig)
    assert not pairs, f"{len(pairs)} overlapping text pairs, e.g. {pairs[:5]}"


def assert_figure_files(paths: list[Path], fig_size_px: tuple[int, int] | None = None) -> None:
    """PNG then PDF exist and are non-empty; the PNG decodes to an RGBA image that is not blank
    (and, when given, has the expected pixel size); the PDF starts with its magic bytes."""
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 5_000, p
    with Image.open(paths[0]) as im:
        assert im.format == "PNG"
        img = np.asarray(im.convert("RGB"), dtype=float) / 255
        size = im.size
    assert float(img.std()) > 0.02  # not blank
    if fig_size_px is not None:
        assert abs(size[0] - fig_size_px[0]) <= 2 and abs(size[1] - fig_size_px[1]) <= 2, (size, fig_size_px)
    assert paths[1].read_bytes()[:5] == b"%PDF-"


def saved_size_px(fig) -> tuple[int, int]:
    """The pixel size save_figure gives ``fig``: its tight bounding box plus 0.05 in of padding
    on each side, at plots.DPI."""
    fig.canvas.draw()
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    return round((bb.width + 0.1) * plots.DPI), round((bb.height + 0.1) * plots.DPI)


def raw_point_count(fig) -> int:
    """Number of raw points drawn (scatter collections tagged gid='raw:...')."""
    total = 0
    for ax in fig.axes:
        for coll in ax.collections:
            gid = coll.get_gid()
            if gid and gid.startswith("raw:"):
                total += len(coll.get_offsets())
    return total


def lines_by_gid(fig, prefix: str) -> dict[str, object]:
    return {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines
            if (ln.get_gid() or "").startswith(prefix)}


def data_axes(fig) -> list:
    """Axes that hold drawn data (not colour bars)."""
    return [ax for ax in fig.axes if (ax.lines or ax.collections) and ax.get_label() != "<colorbar>"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def butakov_like_mi() -> pd.DataFrame:
    """Two estimators; kl fails on the softmax layer at every epoch and ksg at a few: the long
    "not drawn" notes of the butakov_digits study."""
    mi = make_mi(seeds=(0, 1), estimators=("ksg", "kl"))
    mi.loc[(mi.estimator == "kl") & (mi.layer == "softmax"), "I_XT"] = -26.3
    mi.loc[(mi.estimator == "ksg") & (mi.layer == "softmax") & (mi.epoch > 20), "I_XT"] = -3.1
    mi.loc[(mi.estimator == "ksg") & (mi.layer == "2") & (mi.epoch > 30), "I_TY"] = -1.2
    return mi


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


def test_impossible_estimates_are_not_drawn_and_named_under_the_figure():
    """A mean below -0.5 bits (an estimator failure, e.g. KL on a saturated softmax) is masked in
    the figure data with a warning naming estimator, quantity, layer and count; the note goes
    under the panels, not into the title; the table keeps the value."""
    mi = make_mi(seeds=(1,))
    layer = LAYERS[-1]
    rows = mi["layer"] == layer
    mi.loc[rows & (mi["epoch"] == EPOCHS[-1]), "I_XT"] = -26.3
    with pytest.warns(UserWarning, match=rf"I_XT of layer {layer} at 1 epoch \(down to -26\.3\)"):
        mean, _ = plots.mean_over_seeds(mi)
    bad = (mean["layer"] == layer) & (mean["epoch"] == EPOCHS[-1])
    assert mean.loc[bad, ["I_XT", "I_XT_err"]].isna().all().all()
    assert mean.loc[~bad, "I_XT"].notna().all() and mean["I_TY"].notna().all()
    assert list(mean.attrs["not_drawn"]) == ["binning"]
    # a small negative value (within the error of an estimate of zero) is kept
    mi.loc[rows & (mi["epoch"] == EPOCHS[-1]), "I_XT"] = -0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, _ = plots.mean_over_seeds(mi)
    assert mean["I_XT"].notna().all()
    mi.loc[rows & (mi["epoch"] == EPOCHS[-1]), "I_XT"] = -26.3
    with pytest.warns(UserWarning):
        fig = plots.information_plane_figure(mi)
    assert "Not drawn" in plots.notes_text(fig)
    assert "-26.3" in plots.notes_text(fig)
    titles = [f._suptitle.get_text() for f in (fig, *fig.subfigs) if f._suptitle is not None]
    assert titles and not any("Not drawn" in t for t in titles)


def test_dynamics_notes_name_only_the_drawn_estimator():
    with pytest.warns(UserWarning):
        fig = plots.dynamics_panel_figure(butakov_like_mi(), make_metrics(), estimator="ksg",
                                          smoothing={"window": 7, "polyorder": 2})
    notes = plots.notes_text(fig)
    assert "ksg I_XT of layer softmax at 3 epochs (down to -3.1)" in notes
    assert "ksg I_TY of layer 2 at 2 epochs (down to -1.2)" in notes
    assert "kl " not in notes  # kl's failure is not in this figure
    assert "Savitzky-Golay smoothed (window 7 records, order 2)" in notes


def test_mean_over_seeds_all_diverged_raises():
    mi = make_mi(seeds=(), diverged_seed=3)
    with pytest.warns(UserWarning, match="1 of 1 seeds"), pytest.raises(ValueError, match="all 1 seeds"):
        plots.mean_over_seeds(mi)


# ------------------------------------------------------------------ validation of inputs


@pytest.mark.parametrize("column", ["I_XT", "status", "layer_index"])
def test_missing_mi_column_raises_naming_it(column):
    mi = make_mi().drop(columns=[column])
    with pytest.raises(ValueError, match=f"MI table.*'{column}'"):
        plots.mean_over_seeds(mi)


def test_mi_contract_is_the_shared_one():
    """The figures require exactly infoplane.tables.MI_COLUMNS: dropping any one is an error."""
    mi = make_mi()
    assert list(mi.columns) == list(MI_COLUMNS)
    for col in MI_COLUMNS:
        with pytest.raises(ValueError, match=f"'{col}'"):
            plots.load_mi(mi.drop(columns=[col]))


def test_missing_column_in_csv_names_file(tmp_path):
    path = tmp_path / "metrics.csv"
    make_metrics().drop(columns=["eval_acc"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"metrics\.csv.*'eval_acc'"):
        plots.training_curves(path, tmp_path / "curves")


@pytest.mark.parametrize(
    "func, table",
    [
        (plots.estimator_validation, make_validation_summary),
        (plots.synthetic_images, make_synthetic_summary),
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


def test_validation_figure_refuses_the_per_seed_table(tmp_path):
    with pytest.raises(ValueError, match=r"'mean', 'std', 'n_seeds'.*validation_summary\.csv"):
        plots.estimator_validation(make_validation(), tmp_path / "v")


def test_synthetic_figure_refuses_a_table_without_the_target_band(tmp_path):
    summary = make_synthetic_summary().drop(columns=["target_lo_bits", "target_hi_bits"])
    with pytest.raises(ValueError, match="'target_lo_bits', 'target_hi_bits'"):
        plots.synthetic_images(summary, tmp_path / "s")
    with pytest.raises(ValueError, match=r"'n_seeds'.*synthetic_summary\.csv"):
        plots.synthetic_images(make_synthetic_raw(), tmp_path / "s")
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
    df = pd.DataFrame({"estimator": "ksg", "layer": "1", "epoch": epochs,
                       "I_XT": clean + rng.normal(0, 0.2, 40), "I_TY": clean})
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
    lines = lines_by_gid(smoothed, "smooth:")
    assert sorted(lines) == sorted(f"smooth:{layer}" for layer in LAYERS)
    # the smoothed line is the Savitzky-Golay filter of the seed means, not the raw trajectory
    mean, _ = plots.mean_over_seeds(mi)
    expected = plots.smooth(mean, 5, 2)
    for layer in LAYERS:
        np.testing.assert_allclose(lines[f"smooth:{layer}"].get_xdata(),
                                   expected.loc[expected["layer"] == layer, "I_XT"])
    raw_layer1 = mean.loc[mean["layer"] == "1", "I_XT"].to_numpy()
    assert not np.allclose(lines["smooth:1"].get_xdata(), raw_layer1)


def test_mi_vs_epoch_smoothing_keeps_raw_points():
    mi = make_mi(seeds=(0, 1))
    fig = plots.mi_vs_epoch_figure(mi, smoothing={"window": 5, "polyorder": 2})
    assert raw_point_count(fig) == 2 * len(LAYERS) * len(EPOCHS)  # two panels


# ------------------------------------------------------------------ drawn data = the tables


def test_mi_vs_epoch_lines_are_the_seed_means():
    """Each drawn line is the mean over the ok seeds of the table (computed here with pandas),
    and there are two panels per estimator."""
    mi = make_mi(seeds=(0, 1, 3), estimators=("binning", "ksg"))
    fig = plots.mi_vs_epoch_figure(mi)
    assert len(data_axes(fig)) == 2 * 2
    expected = mi.groupby(["estimator", "layer", "epoch"])[["I_XT", "I_TY"]].mean()
    lines = lines_by_gid(fig, "line:")
    assert len(lines) == 2 * len(LAYERS) * 2
    for gid, line in lines.items():
        _, est, layer, q = gid.split(":")
        want = expected.loc[(est, layer)][q]
        np.testing.assert_array_equal(line.get_xdata(), want.index.to_numpy())
        np.testing.assert_allclose(line.get_ydata(), want.to_numpy())


def test_information_plane_panels_and_points_are_the_seed_means():
    mi = make_mi(seeds=(0, 1), estimators=("binning", "ksg", "wkl"))
    fig = plots.information_plane_figure(mi, estimator=["ksg", "binning"])
    panels = [ax for ax in fig.axes if ax.get_title().startswith("estimator:")]
    assert [ax.get_title() for ax in panels] == ["estimator: ksg", "estimator: binning"]
    expected = mi.groupby(["estimator", "layer", "epoch"])[["I_XT", "I_TY"]].mean()
    for ax, est in zip(panels, ("ksg", "binning"), strict=True):
        for layer in LAYERS:
            coll = next(c for c in ax.collections if c.get_gid() == f"raw:{est}:{layer}")
            np.testing.assert_allclose(coll.get_offsets(), expected.loc[(est, layer)].to_numpy())


def test_information_plane_epoch_colour_scale_is_log():
    fig = plots.information_plane_figure(make_mi())
    coll = next(c for c in fig.axes[0].collections if (c.get_gid() or "").startswith("raw:"))
    norm = coll.norm
    # symmetric log: equal colour steps per decade above 1, epoch 0 at the bottom
    assert norm(0) == pytest.approx(0.0)
    assert norm(60) == pytest.approx(1.0)
    assert norm(1) > 0.05  # epoch 0 and epoch 1 are distinct colours
    assert norm(60) - norm(6) == pytest.approx(norm(10) - norm(1))  # one decade, one step
    np.testing.assert_allclose(coll.get_array(), np.tile(EPOCHS, 1))
    cbar_labels = [ax.get_ylabel() for ax in fig.axes]
    assert any("epoch" in lab and "log" in lab for lab in cbar_labels)


def test_axis_labels_are_in_bits():
    fig = plots.mi_vs_epoch_figure(make_mi())
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert "I(X;T) [bits]" in ylabels and "I(T;Y) [bits]" in ylabels
    fig = plots.information_plane_figure(make_mi())
    assert fig.axes[0].get_xlabel() == "I(X;T) [bits]"
    assert fig.axes[0].get_ylabel() == "I(T;Y) [bits]"


def test_dynamics_panel_excludes_diverged_seed_metrics():
    mi = make_mi(seeds=(0, 1), diverged_seed=2)
    metrics = make_metrics(seeds=(0, 1, 2))
    metrics.loc[metrics["seed"] == 2, "train_loss"] = 1e6  # would dominate the mean
    with pytest.warns(UserWarning, match="1 of 3 seeds"):
        fig = plots.dynamics_panel_figure(mi, metrics)
    assert len(data_axes(fig)) == 4
    lines = lines_by_gid(fig, "metric:")
    want = metrics[metrics["seed"] != 2].groupby("epoch")[["train_loss", "eval_acc"]].mean()
    np.testing.assert_allclose(lines["metric:train_loss"].get_ydata(), want["train_loss"])
    np.testing.assert_allclose(lines["metric:eval_acc"].get_ydata(), want["eval_acc"])


def test_training_curves_drop_non_finite_losses():
    metrics = make_metrics(seeds=(0, 1, 2))
    metrics.loc[(metrics["seed"] == 2) & (metrics["epoch"] > 40), "train_loss"] = np.inf
    fig = plots.training_curves_figure(metrics)
    y = lines_by_gid(fig, "metric:")["metric:train_loss"].get_ydata()
    finite = metrics.replace(np.inf, np.nan).groupby("epoch")["train_loss"].mean()
    np.testing.assert_allclose(y, finite)
    assert np.isfinite(y).all()


def test_validation_figure_draws_the_summary():
    """One panel per (dimension, distribution); each estimator's line is the summary's mean
    against true MI; the palette gives wkl (absent from the old hand list) its own colour."""
    summary = make_validation_summary()
    fig = plots.estimator_validation_figure(summary)
    assert len(data_axes(fig)) == 2 * 2
    ax = next(a for a in fig.axes if a.get_title() == "student_t, dim 5")
    lines = {ln.get_gid(): ln for ln in ax.lines if (ln.get_gid() or "").startswith("mean:")}
    assert sorted(lines) == ["mean:binning", "mean:kde", "mean:ksg", "mean:wkl"]
    for est in ("ksg", "wkl"):
        rows = summary[(summary.distribution == "student_t") & (summary.dim == 5)
                       & (summary.estimator == est)].sort_values("true_mi")
        np.testing.assert_allclose(lines[f"mean:{est}"].get_xdata(), rows["true_mi"])
        np.testing.assert_allclose(lines[f"mean:{est}"].get_ydata(), rows["mean"])
    colours = {gid: ln.get_color() for gid, ln in lines.items()}
    assert len(set(map(str, colours.values()))) == 4


def test_estimator_colours_are_fixed_by_the_registry():
    from infoplane.estimators import available

    every = plots.estimator_palette(available())
    assert "wkl" in every and len(set(every.values())) == len(every)
    assert plots.estimator_palette(["wkl", "ksg"]) == {"ksg": every["ksg"], "wkl": every["wkl"]}
    custom = plots.estimator_palette(["ksg", "ksg_k10"])  # a config label, not a registry name
    assert custom["ksg"] == every["ksg"] and custom["ksg_k10"] not in every.values()


def test_validation_figure_reads_what_the_study_writes():
    """The contract with the study: the figure accepts bias_table's output as it is."""
    from infoplane.studies.validation import bias_table

    summary = bias_table(make_validation())
    fig = plots.estimator_validation_figure(summary)
    assert len(data_axes(fig)) == 4
    assert "3 seeds per point" in fig._suptitle.get_text()


def test_estimator_validation_unknown_n_raises(tmp_path):
    with pytest.raises(ValueError, match="n=7"):
        plots.estimator_validation(make_validation_summary(), tmp_path / "v", n=7)


def test_synthetic_figure_draws_the_summary_and_its_target_band():
    """Rows: estimators in the preferred order; columns: image kinds; the grey band is the
    table's target columns; wkl's refused raw-pixel rows (NaN mean) are not drawn."""
    summary = make_synthetic_summary()
    fig = plots.synthetic_images_figure(summary, estimators=["wkl", "ksg", "kl"])
    panels = data_axes(fig)
    assert [ax.get_title() for ax in panels] == [
        "blobs\nestimator: wkl", "rectangles\nestimator: wkl",
        "blobs\nestimator: ksg", "rectangles\nestimator: ksg",
    ]
    wkl_blobs = panels[0]
    assert sorted(ln.get_gid() for ln in wkl_blobs.lines if (ln.get_gid() or "").startswith("mean:")) == [
        "mean:ae", "mean:latent", "mean:pca"]
    band = next(c for c in wkl_blobs.collections if c.get_gid() == "target")
    verts = band.get_paths()[0].vertices
    rows = summary[(summary.image == "blobs") & (summary.estimator == "wkl")].drop_duplicates("true_mi")
    assert verts[:, 1].max() == pytest.approx(rows["target_hi_bits"].max())
    assert verts[:, 1].min() == pytest.approx(rows["target_lo_bits"].min())
    ae = next(ln for ln in panels[2].lines if ln.get_gid() == "mean:ae")
    want = summary[(summary.image == "blobs") & (summary.estimator == "ksg")
                   & (summary.compression == "ae")].sort_values("true_mi")
    np.testing.assert_allclose(ae.get_ydata(), want["mean"])


def test_synthetic_figure_reads_what_the_study_writes():
    """The contract with the study: summarize_synthetic's table plus the target band columns
    (which the study's summary carries once it adds them itself)."""
    from infoplane.studies.synthetic_images import summarize_synthetic

    summary = summarize_synthetic(make_synthetic_raw())
    fig = plots.synthetic_images_figure(summary)
    assert len(data_axes(fig)) == 4


# ------------------------------------------------------------------ comparison figures


def test_compression_grid_panels_are_conditions_by_estimators_of_seed_means():
    mi = make_sweep_mi()
    fig = plots.compression_grid_figure(mi)
    axes = data_axes(fig)
    assert len(axes) == 4  # 2 conditions (rows) x 2 estimators (columns)
    assert [ax.get_title() for ax in axes] == ["estimator: binning", "estimator: ksg", "", ""]
    assert [ax.get_ylabel().split("\n")[0] for ax in axes[::2]] == ["activation-tanh", "activation-relu"]
    assert all("[bits]" in ax.get_xlabel() for ax in axes[2:])
    for ax, (cond, est) in zip(axes, [(c, e) for c in ("activation-tanh", "activation-relu")
                                      for e in ("binning", "ksg")], strict=True):
        mean, _ = plots.mean_over_seeds(mi[mi["condition"] == cond].drop(columns=["condition"]))
        want = mean[(mean["estimator"] == est) & (mean["layer"] == "2")]
        line = next(ln for ln in ax.lines if ln.get_gid() == f"line:{est}:2")
        np.testing.assert_allclose(line.get_xdata(), want["I_XT"])
        np.testing.assert_allclose(line.get_ydata(), want["I_TY"])
    # Panels of one estimator share I(X;T); the relu row is drawn 2 bits to the right.
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[2])
    assert not axes[0].get_shared_x_axes().joined(axes[0], axes[1])


def test_compression_grid_draws_the_all_split_and_says_so():
    mi = make_sweep_mi(split=True)
    fig = plots.compression_grid_figure(mi, estimator="ksg")
    axes = data_axes(fig)
    assert len(axes) == 2
    mean, _ = plots.mean_over_seeds(mi[(mi["condition"] == "activation-tanh") & (mi["split"] == "all")])
    want = mean[(mean["estimator"] == "ksg") & (mean["layer"] == "1")]
    line = next(ln for ln in axes[0].lines if ln.get_gid() == "line:ksg:1")
    np.testing.assert_allclose(line.get_xdata(), want["I_XT"])
    assert "split: all" in fig._suptitle.get_text()
    only_train = mi[mi["split"] == "train"]
    fig = plots.compression_grid_figure(only_train)
    assert "split: train" in fig._suptitle.get_text()


def test_compression_grid_without_conditions_is_one_row():
    fig = plots.compression_grid_figure(make_mi(estimators=("binning", "ksg", "kde")))
    assert len(data_axes(fig)) == 3
    assert data_axes(fig)[0].get_ylabel() == "I(T;Y) [bits]"


def _bar_heights(fig, cond: str, est: str) -> np.ndarray:
    return np.array([p.get_height() for ax in fig.axes for p in ax.patches if p.get_gid() == f"bar:{cond}:{est}"])


def test_late_drop_bars_are_the_summary_means():
    summary = make_summary(make_sweep_mi())
    fig = plots.late_drop_figure(summary)
    axes = data_axes(fig) or [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in axes] == ["activation-tanh", "activation-relu"]
    assert axes[0].get_ylabel() == "late drop of I(X;T) [bits]"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["1", "2", "softmax"]
    for cond in ("activation-tanh", "activation-relu"):
        for est in ("binning", "ksg"):
            rows = summary[(summary["condition"] == cond) & (summary["estimator"] == est)].sort_values("layer_index")
            np.testing.assert_allclose(_bar_heights(fig, cond, est), rows["I_XT_late_drop_mean"])
    assert (summary["I_XT_late_drop_mean"] > 1).all(), "the fixture compresses: the bars are not empty"


def test_late_drop_reads_one_split_and_refuses_the_mi_table(tmp_path):
    summary = make_summary(make_sweep_mi(split=True))
    fig = plots.late_drop_figure(summary)
    rows = summary[(summary["split"] == "all") & (summary["condition"] == "activation-tanh")
                   & (summary["estimator"] == "ksg")].sort_values("layer_index")
    np.testing.assert_allclose(_bar_heights(fig, "activation-tanh", "ksg"), rows["I_XT_late_drop_mean"])
    csv = tmp_path / "mi.csv"
    make_mi().to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"mi\.csv.*I_XT_late_drop_mean.*pass the study's summary\.csv"):
        plots.late_drop_figure(csv)


def test_late_drop_names_bars_without_a_value():
    summary = make_summary(make_mi())
    summary.loc[0, ["I_XT_late_drop_mean", "I_XT_late_drop_std"]] = np.nan
    fig = plots.late_drop_figure(summary)
    assert "no value" in plots.notes_text(fig) and "binning layer 1" in plots.notes_text(fig)


def test_clustering_figure_draws_the_seed_mean_score_beside_mi():
    mi = make_mi(seeds=(0, 1, 2), estimators=("binning", "ksg"))
    geo = make_geometry(mi)
    fig = plots.clustering_figure(mi, geo)
    score = {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines if str(ln.get_gid()).startswith("clustering:")}
    assert sorted(score) == ["clustering:1", "clustering:2"], "softmax has no score: no panel"
    want = geo[geo["layer"] == "2"].groupby("epoch")["clustering"].mean()
    np.testing.assert_allclose(score["clustering:2"].get_xdata(), want.index)
    np.testing.assert_allclose(score["clustering:2"].get_ydata(), want.to_numpy())
    mean, _ = plots.mean_over_seeds(mi)
    line = next(ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "mi:1:ksg")
    np.testing.assert_allclose(line.get_ydata(), mean[(mean.estimator == "ksg") & (mean.layer == "1")]["I_XT"])
    twins = [ax for ax in fig.axes if ax.get_ylabel() == "clustering score"]
    assert len(twins) == 1 and any(ax.get_ylabel() == "I(X;T) [bits]" for ax in fig.axes)


def test_clustering_figure_refuses_a_table_without_scores():
    mi = make_mi()
    geo = make_geometry(mi).assign(clustering=np.nan)
    with pytest.raises(ValueError, match="no finite clustering score"):
        plots.clustering_figure(mi, geo)
    with pytest.raises(ValueError, match="missing required column.*'clustering'"):
        plots.clustering_figure(mi, make_geometry(mi).drop(columns=["clustering"]))


def test_comparison_figures_write_the_named_files(tmp_path):
    mi, summary, geo = tmp_path / "mi.csv", tmp_path / "summary.csv", tmp_path / "geometry.csv"
    sweep = make_sweep_mi()
    sweep.to_csv(mi, index=False)
    make_summary(sweep).to_csv(summary, index=False)
    make_geometry(sweep).to_csv(geo, index=False)
    names = list(plots.COMPARISON_FIGURES)
    assert names == ["compression_grid", "late_drop", "clustering"]
    paths = plots.comparison_figures(names, tmp_path / "figs", mi, summary, geo, title="sweep")
    assert paths == [tmp_path / "figs" / f"{n}.{ext}" for n in names for ext in plots.FIGURE_FORMATS]
    for n in names:
        assert_figure_files([tmp_path / "figs" / f"{n}.png", tmp_path / "figs" / f"{n}.pdf"])
    with pytest.raises(ValueError, match="needs the geometry table"):
        plots.comparison_figures(["clustering"], tmp_path, mi, summary)
    with pytest.raises(ValueError, match="unknown comparison figure 'plane'"):
        plots.comparison_figures(["plane"], tmp_path, mi)


def test_figures_cli_draws_the_comparison_figures(tmp_path, tiny_config):
    import yaml

    from infoplane.cli import main

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    mi, met, summary = tmp_path / "mi.csv", tmp_path / "metrics.csv", tmp_path / "summary.csv"
    table = make_mi(estimators=("binning", "ksg"))
    table.to_csv(mi, index=False)
    make_metrics().to_csv(met, index=False)
    make_summary(table).to_csv(summary, index=False)
    out = tmp_path / "figs"
    assert main(["figures", "--config", str(cfg), "--mi", str(mi), "--metrics", str(met), "--summary", str(summary),
                 "--also", "compression_grid", "late_drop", "--outdir", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    drawn = (*plots.NETWORK_FIGURES, "compression_grid", "late_drop")
    assert {f"{n}.{e}" for n in drawn for e in ("png", "pdf")} == names


# ------------------------------------------------------------------ text never overlaps


LONG_TITLE = "A deliberately long study title that names the dataset, the network and the estimator " * 2


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: plots.dynamics_panel_figure(
            butakov_like_mi(), make_metrics(), estimator="ksg", title="butakov_digits",
            smoothing={"window": 7, "polyorder": 2}), id="dynamics-butakov-notes"),
        pytest.param(lambda: plots.dynamics_panel_figure(
            butakov_like_mi(), make_metrics(), estimator="kl", title=LONG_TITLE), id="dynamics-long-title"),
        pytest.param(lambda: plots.information_plane_figure(
            butakov_like_mi(), title=LONG_TITLE, smoothing={"window": 7, "polyorder": 2}), id="plane"),
        pytest.param(lambda: plots.mi_vs_epoch_figure(
            butakov_like_mi(), title=LONG_TITLE, smoothing={"window": 7, "polyorder": 2}), id="mi-vs-epoch"),
        pytest.param(lambda: plots.training_curves_figure(make_metrics(), title=LONG_TITLE), id="curves"),
        pytest.param(lambda: plots.estimator_validation_figure(
            make_validation_summary().assign(mean=lambda d: d["mean"] + 40 * (d.estimator == "binning")),
            title=LONG_TITLE), id="validation-off-scale"),
        pytest.param(lambda: plots.synthetic_images_figure(
            make_synthetic_summary(), title=LONG_TITLE, nats_axis=True), id="synthetic-nats"),
        pytest.param(lambda: plots.compression_grid_figure(make_sweep_mi(), title=LONG_TITLE),
                     id="compression-grid"),
        pytest.param(lambda: plots.late_drop_figure(make_summary(make_sweep_mi(conditions=LONG_CONDITIONS)),
                                                    title=LONG_TITLE), id="late-drop"),
        pytest.param(lambda: plots.clustering_figure(make_mi(estimators=("binning", "ksg")),
                                                     make_geometry(make_mi()), title=LONG_TITLE),
                     id="clustering"),
        pytest.param(lambda: plots.clustering_figure(make_sweep_mi(), make_geometry(make_sweep_mi()),
                                                     title=LONG_TITLE), id="clustering-sweep"),
    ],
)
def test_no_text_overlaps(build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig = build()
    assert len(text_boxes(fig)) > 20
    assert_no_overlap(fig)


def test_overlap_check_finds_an_overlap():
    fig, ax = plt.subplots(layout="constrained")
    ax.set_title("a title")
    fig.text(0.5, 0.5, "over the panel", transform=ax.transAxes)
    ax.text(0.5, 0.5, "over the panel", transform=ax.transAxes)
    pairs = overlapping_texts(fig)
    assert len(pairs) == 1 and all("over the panel" in name for name in pairs[0])


# ------------------------------------------------------------------ files


def test_information_plane_writes_png_and_pdf_at_the_figure_size(tmp_path):
    mi = make_mi(seeds=(0, 1), estimators=("binning", "ksg"), diverged_seed=2)
    with pytest.warns(UserWarning, match="1 of 3 seeds"):
        fig = plots.information_plane_figure(mi, study="tishby")
    size = saved_size_px(fig)
    paths = plots.save_figure(fig, tmp_path / "plane")
    assert paths == [tmp_path / "plane.png", tmp_path / "plane.pdf"]
    assert_figure_files(paths, size)
    assert not list(tmp_path.glob("*.tmp"))


def test_mi_vs_epoch_from_csv_and_explicit_paths(tmp_path):
    csv = tmp_path / "mi.csv"
    make_mi(seeds=(0, 1, 3)).to_csv(csv, index=False)
    out = [tmp_path / "figs" / "a.png", tmp_path / "figs" / "a.pdf"]
    paths = plots.mi_vs_epoch(csv, out, smoothing={"window": 5, "polyorder": 2})
    assert paths == out
    assert_figure_files(paths)


@pytest.mark.parametrize("kind, table, stem", [
    ("validation", make_validation_summary, "estimator_validation"),
    ("synthetic", make_synthetic_summary, "synthetic_images"),
])
def test_plot_table_cli_draws_a_summary_csv(tmp_path, kind, table, stem):
    from infoplane.cli import main

    csv = tmp_path / "summary.csv"
    table().to_csv(csv, index=False)
    assert main(["plot-table", kind, "--table", str(csv), "--out-stem", str(tmp_path / stem)]) == 0
    assert_figure_files([tmp_path / f"{stem}.png", tmp_path / f"{stem}.pdf"])
    assert stem in plots.VALIDATION_FIGURES + plots.SYNTHETIC_FIGURES


def test_network_figures_writes_the_listed_figures(tmp_path):
    """network_figures (what `infoplane figures` calls) writes exactly NETWORK_FIGURES in each
    format, from CSV files, with the config's estimator order."""
    mi_csv, met_csv = tmp_path / "mi.csv", tmp_path / "metrics.csv"
    make_mi(estimators=("binning", "ksg")).to_csv(mi_csv, index=False)
    make_metrics().to_csv(met_csv, index=False)
    cfg = {"study": "tiny", "estimators": [{"name": "ksg", "k": 3}, {"name": "binning"}],
           "figures": {"smoothing": {"enabled": True, "window": 5, "polyorder": 2}}}
    paths = plots.network_figures(mi_csv, met_csv, tmp_path / "figs", cfg)
    expected = [tmp_path / "figs" / f"{name}.{ext}" for name in plots.NETWORK_FIGURES
                for ext in plots.FIGURE_FORMATS]
    assert paths == expected
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(p.name for p in expected)
    for name in plots.NETWORK_FIGURES:
        assert_figure_files([tmp_path / "figs" / f"{name}.png", tmp_path / "figs" / f"{name}.pdf"])


def test_pdf_is_reproducible(tmp_path):
    metrics = make_metrics(seeds=(0,))
    a = plots.training_curves(metrics, [tmp_path / "a.pdf"])
    b = plots.training_curves(metrics, [tmp_path / "b.pdf"])
    assert a == [tmp_path / "a.pdf"]
    assert a[0].read_bytes() == b[0].read_bytes()


def test_package_exports_and_cheap_figure_names():
    """Every public name resolves; the figure names import without matplotlib or pandas (the
    Snakefile imports them at parse time)."""
    import subprocess
    import sys

    assert all(getattr(plots, name) is not None for name in plots.__all__)
    assert {"information_plane", "network_figures", "NETWORK_FIGURES", "validation_summary"} <= set(plots.__all__)
    code = ("import sys; from infoplane.plots import NETWORK_FIGURES, FIGURE_FORMATS; "
            "print(NETWORK_FIGURES, FIGURE_FORMATS, 'matplotlib' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("('information_plane', 'mi_vs_epoch', 'training_curves', 'dynamics') "
                           "('png', 'pdf') False False")


def test_figures_draw_split_all_else_the_first_configured_split():
    """analysis.split: the figures draw the rows of split all when the table has them, else
    those of the first split the config lists; a split other than all is named in a note."""
    from infoplane.plots.data import figure_split

    base = make_mi()
    held_out = base.assign(split="test", I_XT=base["I_XT"] + 100.0)
    both = pd.concat([base.assign(split="train"), held_out], ignore_index=True)
    assert figure_split(both) == "train", "SPLITS order without a config"
    assert figure_split(both, ["test", "train"]) == "test"
    assert figure_split(pd.concat([both, base], ignore_index=True), ["test"]) == "all"
    mean, _ = plots.mean_over_seeds(both, split="test")
    assert mean.attrs["split"] == "test" and (mean["I_XT"] > 90).all()
    fig = plots.information_plane_figure(both, split="test")
    assert "MI estimated on the test samples only" in plots.notes_text(fig)
    plt.close(fig)
    with pytest.raises(ValueError, match=r"no rows of split 'all'; it has \['test', 'train'\]"):
        plots.mean_over_seeds(both, split="all")
