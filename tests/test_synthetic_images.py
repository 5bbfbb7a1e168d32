"""Tests of the synthetic images (blobs, rectangles) and of the synthetic-images study driver."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import infoplane.studies.synthetic_images as si
from infoplane.config import ConfigError, validate_config
from infoplane.synthetic.images import gaussian_blobs, ordered_segments, rectangles
from infoplane.units import bits_to_nats, nats_to_bits

# ------------------------------------------------------------------------------ images


def test_blob_peak_at_latent_position():
    size = 16
    grid = np.arange(size) / (size - 1)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, size, size=(50, 2))
    lat = grid[idx]  # latents on grid points: the peak pixel is exactly 1
    img = gaussian_blobs(lat, size)
    assert img.shape == (50, size, size) and img.dtype == np.float32
    flat_argmax = img.reshape(50, -1).argmax(axis=1)
    rows, cols = np.unravel_index(flat_argmax, (size, size))
    np.testing.assert_array_equal(cols, idx[:, 0])  # column <-> latent x
    np.testing.assert_array_equal(rows, idx[:, 1])  # row <-> latent y
    np.testing.assert_allclose(img.reshape(50, -1).max(axis=1), 1.0)
    # off-grid latents: the peak is the nearest grid point; values in (0, 1]
    lat = rng.random((200, 2))
    img = gaussian_blobs(lat, 32)
    rows, cols = np.unravel_index(img.reshape(200, -1).argmax(axis=1), (32, 32))
    np.testing.assert_array_equal(cols, np.rint(lat[:, 0] * 31))
    np.testing.assert_array_equal(rows, np.rint(lat[:, 1] * 31))
    assert img.min() > 0 and img.max() <= 1
    # the formula itself at one pixel
    u, v = 3 / 31, 7 / 31
    expected = math.exp(-10 * ((u - lat[0, 0]) ** 2 + (v - lat[0, 1]) ** 2))
    assert img[0, 7, 3] == pytest.approx(expected, rel=1e-6)


def _rectangle_reference(lat: np.ndarray, size: int) -> np.ndarray:
    """Slow, obviously correct: per pixel, the overlap area of two boxes."""
    out = np.zeros((size, size))
    x0, x1 = sorted(lat[0:2] * size)
    y0, y1 = sorted(lat[2:4] * size)
    for i in range(size):
        for j in range(size):
            dx = max(0.0, min(x1, j + 1) - max(x0, j))
            dy = max(0.0, min(y1, i + 1) - max(y0, i))
            out[i, j] = dx * dy
    return out


def test_rectangle_antialiasing_exact():
    rng = np.random.default_rng(1)
    lat = rng.random((300, 4))  # pairs unsorted on purpose
    for size in (16, 32):
        img = rectangles(lat, size)
        assert img.shape == (300, size, size) and img.dtype == np.float32
        assert img.min() >= 0 and img.max() <= 1
        area = np.abs(lat[:, 1] - lat[:, 0]) * np.abs(lat[:, 3] - lat[:, 2])
        np.testing.assert_allclose(img.sum(axis=(1, 2)), area * size**2, rtol=1e-5, atol=1e-5)
        for s in range(5):
            np.testing.assert_allclose(img[s], _rectangle_reference(lat[s], size), atol=1e-6)
    # a rectangle covering whole pixels: interior pixels are 1, outside 0
    img = rectangles(np.array([[0.25, 0.75, 0.5, 1.0]]), 8)[0]
    np.testing.assert_array_equal(img[4:, 2:6], 1.0)
    assert img.sum() == 16.0


def test_ordered_segments_is_an_ordered_bijection():
    rng = np.random.default_rng(2)
    u = rng.random((2000, 4))
    seg = ordered_segments(u, min_length=2 / 16)
    assert np.all(seg[:, 1] - seg[:, 0] >= 2 / 16 - 1e-12)
    assert np.all(seg[:, 3] - seg[:, 2] >= 2 / 16 - 1e-12)
    assert seg.min() >= 0 and seg.max() <= 1
    # strictly monotone in each argument: injective
    a = np.linspace(0, 0.999, 50)
    s = ordered_segments(np.c_[a, np.full(50, 0.3)])
    assert np.all(np.diff(s[:, 0]) > 0)
    e = ordered_segments(np.c_[np.full(50, 0.3), a])
    assert np.all(np.diff(e[:, 1]) > 0)
    # sorting in rectangles() is a no-op on ordered segments
    np.testing.assert_array_equal(rectangles(seg, 16), rectangles(seg[:, [1, 0, 3, 2]], 16))


@pytest.mark.parametrize(
    ("fn", "latent", "needle"),
    [
        (gaussian_blobs, np.zeros((3, 3)), r"\(n, 2\)"),
        (gaussian_blobs, np.full((3, 2), 1.5), r"\[0, 1\]"),
        (rectangles, np.zeros((3, 2)), r"\(n, 4\)"),
        (rectangles, np.full((3, 4), np.nan), "non-finite"),
    ],
)
def test_image_input_errors(fn, latent, needle):
    with pytest.raises(ValueError, match=needle):
        fn(latent, 16)
    with pytest.raises(ValueError, match="size"):
        fn(np.zeros((1, 2 if fn is gaussian_blobs else 4)), 1)


# ------------------------------------------------------------------------------ study driver


def _spec(**synthetic) -> dict:
    """A ``synthetic`` section as the study receives it: through the config's validation."""
    return validate_config({"study": "t", "synthetic": synthetic})["synthetic"]


SMALL = {
    "images": ["blobs"],
    "image_size": 16,
    "true_mi_nats": [1.0, 3.0],
    "n": 1500,
    "seeds": [0],
    "compressions": ["none", "pca"],
    "estimators": [{"name": "ksg", "k": 5}, {"name": "kl", "k": 5}],
}


def test_tasks_are_independent_and_serialisable():
    spec = _spec(**{**SMALL, "images": ["blobs", "rectangles"], "seeds": [0, 1, 2]})
    tasks = si.synthetic_tasks(spec)
    assert len(tasks) == 2 * 2 * 3
    assert json.loads(json.dumps(tasks)) == tasks
    assert {(t["image"], t["true_mi_nats"], t["seed"]) for t in tasks} == {
        (im, mi, s) for im in ("blobs", "rectangles") for mi in (1.0, 3.0) for s in (0, 1, 2)
    }
    # the autoencoders the study reads: one per (image kind, seed), only with `ae` fitted on
    # independent latents
    assert si.needed_autoencoders(spec) == []
    with_ae = _spec(**{**SMALL, "images": ["blobs", "rectangles"], "seeds": [0, 1], "compressions": ["ae"]})
    assert si.needed_autoencoders(with_ae) == [("blobs", 0), ("blobs", 1), ("rectangles", 0), ("rectangles", 1)]
    assert si.needed_autoencoders({**with_ae, "ae": {**with_ae["ae"], "fit_on": "data"}}) == []


def test_small_run_compression_beats_raw_pixels():
    spec = _spec(**SMALL)
    df = si.run_synthetic_images(spec, progress=False)
    assert list(df.columns) == si.COLUMNS
    assert set(df["compression"]) == {"latent", "none", "pca"}
    assert len(df) == 2 * 3 * 2
    # kl refuses raw pixels and PCA codes (see below); every other row is an estimate
    refused = df[df["status"] == "refused"]
    assert set(zip(refused["estimator"], refused["compression"], strict=True)) == {("kl", "none"), ("kl", "pca")}
    assert refused["reason"].str.startswith("kl: ").all()
    ok = df[df["status"] != "refused"]
    assert (ok["status"] == "ok").all() and (ok["reason"] == "").all()
    # true MI reported in bits
    np.testing.assert_allclose(sorted(set(df["true_mi"])), nats_to_bits(np.array([1.0, 3.0])))
    assert sorted(set(df["compressed_dim"])) == [2, 3, 256]  # latents, PCA to latent_dim + 1, pixels
    err = df.assign(err=(df["estimate"] - df["true_mi"]).abs())
    err = err.set_index(["estimator", "compression", "true_mi"])["err"]
    ksg, kl = err.loc["ksg"], err.loc["kl"]
    # KSG on the latents themselves: within 0.5 nats at n = 1500 (measured -0.04 and -0.34 nats;
    # k-NN bias on uniform margins grows with MI)
    assert np.all(ksg.loc["latent"] < nats_to_bits(0.5)), df
    # PCA to latent_dim + 1 = 3 components is an injective code of the blob position, so KSG on
    # it matches KSG on the latents (measured: within 0.06 nats of it)
    assert np.all(ksg.loc["pca"] < nats_to_bits(0.5)), df
    assert np.all((ksg.loc["pca"] - ksg.loc["latent"]).abs() < nats_to_bits(0.2)), df
    # KL on raw pixels (256 dimensions per side, a 2-d manifold; it used to give hundreds of nats
    # below zero) and on the 3 PCA components of a 2-d latent (a curved surface in 3-D): it
    # refuses (a lower-dimensional support), so the table holds NaN, never a wrong number
    assert kl.loc[["none", "pca"]].isna().all(), df
    assert np.all(kl.loc["latent"] < nats_to_bits(0.5)), df
    # the run is the concatenation of its tasks
    rows = [r for t in si.synthetic_tasks(spec) for r in si.run_synthetic_task(spec, t)]
    pd.testing.assert_frame_equal(df, pd.DataFrame(rows, columns=si.COLUMNS))

    summary = si.summarize_synthetic(df)
    assert list(summary.columns) == si.SUMMARY_COLUMNS
    row = summary[(summary["compression"] == "pca") & (summary["estimator"] == "ksg")].iloc[0]
    sel = df[(df["compression"] == "pca") & (df["estimator"] == "ksg") & (df["true_mi"] == row["true_mi"])]
    assert row["n_seeds"] == len(sel) == 1
    assert row["mean"] == sel["estimate"].iloc[0]
    assert row["bias_nats"] == pytest.approx(bits_to_nats(row["mean"] - row["true_mi"]))


def test_summarize_tolerance_rule():
    """Hand-worked: 4 nats = 5.771 bits; the band is +-10% (0.577 bits) there, and +-0.1 nats
    (0.1443 bits) at zero."""
    t = 4.0 / math.log(2.0)
    df = pd.DataFrame(
        {
            "image": "blobs",
            "compression": ["a", "b", "c", "d", "e", "e"],
            "estimator": "kl",
            "true_mi": [t, t, t, 0.0, t, t],
            "estimate": [t * 1.09, t * 0.85, t + 0.05 / math.log(2.0), 0.2 / math.log(2.0), t * 0.95, np.nan],
        }
    )
    s = si.summarize_synthetic(df).set_index("compression")
    assert s.loc[["a", "b", "c", "d", "e"], "within_tolerance"].tolist() == [True, False, True, False, True]
    assert s.loc["a", "target_lo_bits"] == pytest.approx(t - 0.4 / math.log(2.0))
    assert s.loc["a", "target_hi_bits"] == pytest.approx(t + 0.4 / math.log(2.0))
    assert s.loc["d", "target_lo_bits"] == pytest.approx(-0.1 / math.log(2.0))
    assert s.loc["d", "target_hi_bits"] == pytest.approx(0.1 / math.log(2.0))
    assert math.isnan(s.loc["d", "rel_error"])
    assert s.loc["b", "rel_error"] == pytest.approx(-0.15)
    # a refused (NaN) row is left out: one seed counted, its mean is the finite estimate
    assert s.loc["e", "n_seeds"] == 1 and s.loc["e", "mean"] == pytest.approx(t * 0.95)


def test_tolerance_band_edges():
    # 10% above 1 nat, 0.1 nats below it (where 10% is smaller), in bits
    true = nats_to_bits(np.array([0.0, 0.5, 1.0, 5.0]))
    lo, hi = si.tolerance_band(true)
    half = np.array([0.1, 0.1, 0.1, 0.5]) / math.log(2.0)
    np.testing.assert_allclose(hi - true, half, rtol=1e-12)
    np.testing.assert_allclose(true - lo, half, rtol=1e-12)


@pytest.mark.parametrize(
    ("synthetic", "needle"),
    [
        ({"imags": ["blobs"]}, r"synthetic: unknown key 'imags'"),
        ({"images": ["circles"]}, r"synthetic\.images\.0: 'circles' is not allowed"),
        ({"image_size": 2}, r"synthetic\.image_size: 2 is out of range; must be >= 4"),
        ({"image_size": 512}, r"synthetic\.image_size: 512 is out of range; must be <= 256"),
        ({"true_mi_nats": [-1]}, r"synthetic\.true_mi_nats\.0: -1 is out of range"),
        ({"n": 5}, r"synthetic\.n: 5 is out of range; must be >= 20"),
        ({"seeds": [-1]}, r"synthetic\.seeds\.0: -1 is out of range"),
        ({"compressions": ["zip"]}, r"synthetic\.compressions\.0: 'zip' is not allowed"),
        ({"estimators": [{"name": "nope"}]}, r"synthetic\.estimators\[0\]: .*nope"),
        ({"ae": {"epoch": 3}}, r"synthetic\.ae: unknown key 'epoch'"),
        ({"ae": {"cache_dir": "x"}}, r"synthetic\.ae: unknown key 'cache_dir'"),
        ({"ae": {"fit_on": "train"}}, r"synthetic\.ae\.fit_on: 'train' is not allowed"),
        ({"ae": {"lr": -1}}, r"synthetic\.ae\.lr: -1 is out of range"),
        ({"pca_dim": 0}, r"synthetic\.pca_dim: 0 is out of range"),
        ({"estimators": [{"name": "kl"}, {"name": "kl", "k": 3}]}, r"synthetic\.estimators: .*label 'kl'"),
    ],
)
def test_bad_synthetic_section_names_the_key(synthetic, needle):
    with pytest.raises(ConfigError, match=needle):
        _spec(**{**SMALL, **synthetic})


def _write_autoencoders(spec: dict, directory) -> list[str]:
    for image, seed in si.needed_autoencoders(spec):
        si.fit_autoencoder(spec, image, seed).save(si.autoencoder_file(directory, image, seed))
    return sorted(p.name for p in directory.iterdir())


def test_dask_run_matches_serial_bit_for_bit(tmp_path):
    """The tasks read one autoencoder file per (image, seed); a Dask run (workers with one
    thread) and a serial run (this process's threads) give the same table, bit for bit."""
    from infoplane.parallel import dask_client

    spec = _spec(**{
        **SMALL,
        "n": 400,
        "true_mi_nats": [1.0, 2.0],
        "seeds": [0, 1],
        "compressions": ["pca", "ae"],
        "estimators": [{"name": "ksg", "k": 5}],
        "ae": {"epochs": 1, "lr": 1e-3},
    })
    assert _write_autoencoders(spec, tmp_path) == ["blobs_seed0.npz", "blobs_seed1.npz"]
    with dask_client(2) as client:
        df = si.run_synthetic_images(spec, autoencoder_dir=tmp_path, client=client, progress=False)
    serial = si.run_synthetic_images(spec, autoencoder_dir=tmp_path, progress=False)
    pd.testing.assert_frame_equal(df, serial, check_exact=True)
    ae = df[df["compression"] == "ae"]
    assert len(ae) == 4 and set(ae["compressed_dim"]) == {2} and np.isfinite(ae["estimate"]).all()


def test_missing_autoencoder_names_the_image_and_seed():
    spec = _spec(**{**SMALL, "n": 100, "compressions": ["ae"]})
    with pytest.raises(ValueError, match=r"autoencoder of blobs / seed 0 is not given"):
        si.run_synthetic_images(spec, progress=False)


def test_refusal_is_a_nan_row_with_its_reason():
    """wkl refuses raw pixels (images of a 2-d latent: a support of far lower dimension than the
    256 + 256 pixels): NaN, status refused, the estimator's message naming what to use instead."""
    spec = _spec(**{**SMALL, "n": 400, "true_mi_nats": [1.0], "compressions": ["none"],
                    "estimators": [{"name": "ksg", "k": 5}, {"name": "wkl", "k": 20}]})
    df = si.run_synthetic_images(spec, progress=False).set_index(["compression", "estimator"])
    refused = df.loc[("none", "wkl")]
    assert math.isnan(refused["estimate"]) and refused["status"] == "refused"
    assert refused["reason"].startswith("wkl: "), refused["reason"]
    assert "ksg" in refused["reason"], refused["reason"]
    for key in [("none", "ksg"), ("latent", "wkl")]:
        assert math.isfinite(df.loc[key, "estimate"]) and df.loc[key, "status"] == "ok"
    summary = si.summarize_synthetic(df.reset_index()).set_index(["compression", "estimator"])
    assert summary.loc[("none", "wkl"), "n_seeds"] == 0


def test_autoencoders_fitted_on_the_data_need_no_files():
    """ae.fit_on = data (the paper's literal procedure): one autoencoder per side per task,
    fitted inside the task; codes of the latent dimension."""
    spec = _spec(**{**SMALL, "n": 200, "true_mi_nats": [2.0], "compressions": ["ae"],
                    "estimators": [{"name": "ksg", "k": 5}], "ae": {"epochs": 1, "fit_on": "data"}})
    assert si.needed_autoencoders(spec) == []
    df = si.run_synthetic_images(spec, progress=False).set_index("compression")
    assert df.loc["ae", "compressed_dim"] == 2 and df.loc["ae", "status"] == "ok"
    assert np.isfinite(df.loc["ae", "estimate"])


def test_cli_fits_one_autoencoder_per_image_and_seed(tmp_path, capsys):
    import yaml

    from infoplane.cli import main
    from infoplane.compression import ConvAutoencoder

    cfg = tmp_path / "syn.yaml"
    cfg.write_text(yaml.safe_dump({"study": "t", "synthetic": {
        **SMALL, "n": 50, "images": ["rectangles"], "seeds": [3], "ae": {"epochs": 1}}}))
    out = tmp_path / "autoencoders" / "rectangles_seed3.npz"
    assert main(["synthetic-autoencoder", "--config", str(cfg), "--image", "rectangles", "--seed", "3",
                 "--out", str(out), "--quiet"]) == 0
    ae = ConvAutoencoder.load(out)
    assert ae.dim == 4 and ae.seed == 3 and ae.input_shape == (1, 16, 16)
    assert list(tmp_path.joinpath("autoencoders").iterdir()) == [out]  # no temporary left
    # an (image, seed) outside the config's grid is refused, naming both keys
    assert main(["synthetic-autoencoder", "--config", str(cfg), "--image", "blobs", "--seed", "3",
                 "--out", str(tmp_path / "x.npz")]) == 2
    assert "synthetic.images x synthetic.seeds" in capsys.readouterr().err
