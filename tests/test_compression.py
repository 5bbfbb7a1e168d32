"""Tests of infoplane.compression: shapes, exact save/load, determinism, training, spec errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infoplane.compression import (
    ConvAutoencoder,
    IdentityCompressor,
    MLPAutoencoder,
    PCACompressor,
    load_compressor,
    make_compressor,
)
from infoplane.synthetic.images import gaussian_blobs


def _blobs(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return gaussian_blobs(rng.random((n, 2)), size)[:, None]


# ------------------------------------------------------------------------------ PCA / identity


def test_pca_dims_and_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10))
    c = PCACompressor(4).fit(x)
    z = c.transform(x)
    assert z.shape == (300, 4) and z.dtype == np.float64
    assert np.all(np.diff(c.explained_variance_) <= 0)
    np.testing.assert_allclose(np.abs(z), np.abs(PCA(4, svd_solver="full").fit_transform(x)), atol=1e-8)
    # dim is capped by the number of features and of samples
    assert PCACompressor(20).fit(x).transform(x).shape == (300, 10)
    assert PCACompressor(20).fit(x[:5]).transform(x).shape == (300, 5)


def test_pca_truncated_svd_path_matches_full_svd():
    """Wide activations (a conv layer) take the truncated (ARPACK) path: same codes as LAPACK."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(size=(600, 30)) @ rng.normal(size=(30, 900)), 0)
    z = PCACompressor(4).fit(x).transform(x)
    ref = PCA(4, svd_solver="full").fit_transform(x)
    np.testing.assert_allclose(np.abs(z), np.abs(ref), atol=1e-8 * np.abs(ref).max())


def test_pca_save_load_round_trip(tmp_path):
    x = _blobs(200, 8, 0)
    c = PCACompressor(3).fit(x)
    path = tmp_path / "pca.npz"
    c.save(path)
    back = PCACompressor.load(path)
    assert isinstance(back, PCACompressor) and back.input_shape == (1, 8, 8)
    np.testing.assert_array_equal(back.transform(x), c.transform(x))
    # flattened input is accepted and gives the same codes
    np.testing.assert_array_equal(back.transform(x.reshape(200, -1)), c.transform(x))
    with pytest.raises(ValueError, match="ConvAutoencoder"):
        ConvAutoencoder.load(path)


def test_identity_round_trip(tmp_path):
    x = _blobs(10, 8, 1)
    c = IdentityCompressor().fit(x)
    assert c.transform(x).shape == (10, 64)
    c.save(tmp_path / "id.npz")
    np.testing.assert_array_equal(load_compressor(tmp_path / "id.npz").transform(x), x.reshape(10, -1))


def test_transform_checks_feature_count_and_fit():
    c = PCACompressor(2).fit(np.random.default_rng(0).normal(size=(50, 6)))
    with pytest.raises(ValueError, match="6"):
        c.transform(np.zeros((5, 7)))
    with pytest.raises(ValueError, match="not fitted"):
        PCACompressor(2).transform(np.zeros((5, 7)))
    with pytest.raises(ValueError, match="non-finite"):
        PCACompressor(2).fit(np.full((5, 3), np.nan))


# ------------------------------------------------------------------------------ autoencoders


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (1, 28, 28), (1, 32, 32), (1, 5, 7)])
def test_conv_autoencoder_shapes(shape):
    x = np.random.default_rng(0).random((40,) + shape).astype(np.float32)
    c = ConvAutoencoder(dim=3, epochs=1).fit(x)
    z = c.transform(x)
    assert z.shape == (40, 3) and z.dtype == np.float64
    s = c.transform(x, space="sigmoid")
    assert np.all((s > 0) & (s < 1))  # sigmoid code
    # the default code is the logit of the sigmoid code (a bijection: same MI)
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), s, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="space"):
        c.transform(x, space="tanh")
    assert c.reconstruct(x).shape == x.shape


def test_conv_autoencoder_save_load_identical(tmp_path):
    x = _blobs(300, 16, 0)
    c = ConvAutoencoder(dim=2, epochs=2, seed=3).fit(x)
    path = tmp_path / "ae.npz"
    c.save(path)
    back = ConvAutoencoder.load(path)
    np.testing.assert_array_equal(back.transform(x), c.transform(x))
    np.testing.assert_array_equal(back.reconstruct(x), c.reconstruct(x))
    np.testing.assert_array_equal(back.history_, c.history_)
    assert (back.dim, back.epochs, back.seed) == (2, 2, 3)


def test_mlp_autoencoder_save_load_identical(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 30)) * 5 + 2
    c = MLPAutoencoder(dim=3, epochs=3, hidden=[16]).fit(x)
    c.save(tmp_path / "mlp.npz")
    back = load_compressor(tmp_path / "mlp.npz")
    assert isinstance(back, MLPAutoencoder) and back.hidden == (16,)
    np.testing.assert_array_equal(back.transform(x), c.transform(x))
    np.testing.assert_allclose(1 / (1 + np.exp(-c.transform(x))), c.transform(x, space="sigmoid"), rtol=1e-6, atol=1e-7)


def test_same_seed_same_latents_and_no_global_side_effects():
    x = _blobs(256, 8, 1)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    det_before = torch.are_deterministic_algorithms_enabled()
    a = ConvAutoencoder(dim=2, epochs=2, seed=5).fit(x).transform(x)
    # the global torch RNG and the determinism flag are as before fitting
    assert torch.equal(torch.rand(3), expected_next)
    assert torch.are_deterministic_algorithms_enabled() == det_before
    b = ConvAutoencoder(dim=2, epochs=2, seed=5).fit(x).transform(x)
    c = ConvAutoencoder(dim=2, epochs=2, seed=6).fit(x).transform(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)



# A fit whose codes differed in the 8th digit between 1 and 2 torch threads before the
# compressors fixed their thread count (the flaky Dask-vs-serial synthetic-images test).
_THREAD_SCRIPT = """
import hashlib, sys
import numpy as np
from infoplane.compression import ConvAutoencoder, PCACompressor
from infoplane.synthetic.images import gaussian_blobs
x = gaussian_blobs(np.random.default_rng(0).random((400, 2)), 16)[:, None]
codes = np.hstack([ConvAutoencoder(dim=2, epochs=2, seed=0).fit(x).transform(x),
                   PCACompressor(3).fit(x).transform(x)])
print(hashlib.sha256(codes.tobytes()).hexdigest())
"""


def _thread_codes() -> np.ndarray:
    x = _blobs(400, 16, 0)
    return np.hstack([ConvAutoencoder(dim=2, epochs=2, seed=0).fit(x).transform(x),
                      PCACompressor(3).fit(x).transform(x)])


def test_codes_do_not_depend_on_the_torch_thread_count():
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _thread_codes()
        assert torch.get_num_threads() == 1  # restored after fit and transform
        torch.set_num_threads(2)
        two = _thread_codes()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    np.testing.assert_array_equal(one, two)


def test_codes_do_not_depend_on_omp_num_threads():
    """The same fit in fresh processes with OMP_NUM_THREADS 1 and 2 (torch, BLAS and OpenMP read
    it at start-up) and in this process: bit-identical codes."""
    import hashlib
    import os
    import subprocess
    import sys

    digests = set()
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "OPENBLAS_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    digests.add(hashlib.sha256(_thread_codes().tobytes()).hexdigest())
    assert len(digests) == 1, digests

def test_conv_autoencoder_beats_constant_predictor():
    x = _blobs(1024, 8, 2)
    c = ConvAutoencoder(dim=2, epochs=30, lr=3e-3, batch_size=64, seed=0).fit(x)
    err_ae = np.abs(c.reconstruct(x) - x).mean()
    err_const = np.abs(np.median(x, axis=0, keepdims=True) - x).mean()  # best constant under L1
    assert c.history_[-1] < c.history_[0]
    assert err_ae < 0.5 * err_const, (err_ae, err_const)


def test_mlp_autoencoder_beats_constant_predictor():
    rng = np.random.default_rng(0)
    lat = rng.random((1024, 2))
    x = np.tanh(lat @ rng.normal(size=(2, 20)) * 2)  # a 2-D manifold in 20 dimensions
    c = MLPAutoencoder(dim=2, epochs=60, lr=3e-3, batch_size=64, hidden=[32]).fit(x)
    err_ae = np.abs(c.reconstruct(x) - x).mean()
    err_const = np.abs(np.median(x, axis=0, keepdims=True) - x).mean()
    assert err_ae < 0.5 * err_const, (err_ae, err_const)


# ------------------------------------------------------------------------------ factory / files


def test_make_compressor_dispatch():
    assert isinstance(make_compressor({"method": "none"}, (12,)), IdentityCompressor)
    assert make_compressor({"method": "pca", "dim": 3}, (1, 8, 8)).dim == 3
    assert make_compressor({"method": "pca"}, (12,)).dim == 4
    ae = make_compressor({"method": "ae", "dim": 4, "epochs": 3, "lr": 1e-3, "seed": 1}, (1, 28, 28))
    assert isinstance(ae, ConvAutoencoder) and (ae.epochs, ae.seed) == (3, 1)
    assert isinstance(make_compressor({"method": "ae"}, (8, 8)), ConvAutoencoder)
    assert isinstance(make_compressor({"method": "ae", "hidden": [8]}, (100,)), MLPAutoencoder)


@pytest.mark.parametrize(
    ("spec", "shape", "needle"),
    [
        ({"method": "zip"}, (4,), "method"),
        ({"method": "pca", "epochs": 3}, (4,), "epochs"),
        ({"method": "ae", "dims": 3}, (4,), "dims"),
        ({"method": "ae", "epochs": -1}, (4,), "epochs"),
        ({"method": "ae", "lr": 0}, (4,), "lr"),
        ({"method": "ae", "seed": 1.5}, (4,), "seed"),
        ({"method": "pca", "dim": 0}, (4,), "dim"),
        ({"method": "ae", "hidden": [8]}, (1, 8, 8), "hidden"),
        ({"method": "pca"}, (0,), "input_shape"),
        ({"method": "pca"}, (1, 1, 2, 2), "input_shape"),
    ],
)
def test_bad_spec_names_the_key(spec, shape, needle):
    with pytest.raises(ValueError, match=needle):
        make_compressor(spec, shape)


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="bad.npz"):
        load_compressor(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="__spec__"):
        load_compressor(other)
    with pytest.raises(FileNotFoundError):
        load_compressor(tmp_path / "missing.npz")
