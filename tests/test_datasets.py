"""Datasets: the 12-bit generator against the authors' file, MNIST IDX parsing, splits."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from infoplane.datasets import (
    Dataset,
    load_dataset,
    load_digits,
    load_mnist,
    tishby_12bit,
    train_eval_split,
)
from infoplane.datasets.tishby import ANTIPODES, icosahedron_distances


def shared_data_dir() -> Path:
    """Reference data: $INFOPLANE_SHARED_DATA, else <repo>/../shared/data."""
    env = os.environ.get("INFOPLANE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------------------------- 12-bit


def test_tishby_inputs_are_binary_forms_msb_first():
    x, y = tishby_12bit()
    assert x.shape == (4096, 12) and x.dtype == np.float32
    assert y.shape == (4096,) and y.dtype == np.int64
    weights = 2 ** np.arange(11, -1, -1)
    np.testing.assert_array_equal(x.astype(np.int64) @ weights, np.arange(4096))
    assert int(y.sum()) == 2118


def test_icosahedron_geometry():
    d = icosahedron_distances()
    np.testing.assert_array_equal(d, d.T)
    for row in d:  # every vertex: itself, 5 neighbours, 5 at distance 2, one antipode
        assert sorted(np.bincount(row).tolist()) == [1, 1, 5, 5]
    for a, b in ANTIPODES:
        assert d[a, b] == 3


def test_tishby_labels_hand_computed_cases():
    x, y = tishby_12bit()
    assert y[0] == 0  # nothing active
    assert y[1 << 11] == 0  # one bit: 41.2 < 171.8
    # all 12 bits: 41.2*12 + 0.8*30 - 8.8*30 - 13.6*6 = 172.8 > 171.8
    assert y[4095] == 1
    # the pentagon around vertex 0 (bits 1,3,5,10,11): 5*41.2 + 5*0.8 - 5*8.8 = 166 < 171.8
    idx = sum(1 << (11 - b) for b in (1, 3, 5, 10, 11))
    assert y[idx] == 0
    # the pentagon plus its centre: 6*41.2 + 10*0.8 - 5*8.8 = 211.2 > 171.8
    assert y[idx | (1 << 11)] == 1


def test_tishby_matches_var_u_mat_bit_for_bit():
    path = shared_data_dir() / "var_u.mat"
    if not path.is_file():
        pytest.skip(f"reference file {path} not present (set INFOPLANE_SHARED_DATA to its directory)")
    scipy_io = pytest.importorskip("scipy.io")
    ref = scipy_io.loadmat(path)
    x, y = tishby_12bit()
    np.testing.assert_array_equal(x.astype(np.uint8), ref["F"])
    np.testing.assert_array_equal(y, ref["y"].ravel().astype(np.int64))


# ---------------------------------------------------------------------------------- MNIST


def _idx_bytes(magic: int, arr: np.ndarray) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_mnist(directory: Path, n: int = 5, gz: bool = True, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    stem = "t10k" if split == "test" else "train"
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in (
        (f"{stem}-images-idx3-ubyte", _idx_bytes(2051, images)),
        (f"{stem}-labels-idx1-ubyte", _idx_bytes(2049, labels)),
    ):
        if gz:
            with gzip.open(directory / (name + ".gz"), "wb") as fh:
                fh.write(blob)
        else:
            (directory / name).write_bytes(blob)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_load_mnist_reads_idx(tmp_path, gz, layout):
    where = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    images, labels = _write_mnist(where, gz=gz)
    x, y = load_mnist(tmp_path, split="test")
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x[:, 0] * 255.0, images, atol=1e-4)
    assert x[0, 0, 0, 0] == 0.0 and x[0, 0, 0, 1] == 1.0


def test_load_mnist_train_split(tmp_path):
    _write_mnist(tmp_path, n=3, split="train")
    x, _ = load_mnist(tmp_path, split="train")
    assert x.shape[0] == 3
    with pytest.raises(ValueError, match="split='valid'"):
        load_mnist(tmp_path, split="valid")


def test_load_mnist_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert "download=True" in msg


def test_load_mnist_truncated_file_names_it(tmp_path):
    _write_mnist(tmp_path, gz=False)
    img = tmp_path / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:-10])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path)


def test_load_mnist_truncated_gzip_names_it(tmp_path):
    _write_mnist(tmp_path, gz=True)
    img = tmp_path / "t10k-images-idx3-ubyte.gz"
    img.write_bytes(img.read_bytes()[:40])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)


def test_load_mnist_wrong_magic_names_it(tmp_path):
    _write_mnist(tmp_path, gz=False)
    lab = tmp_path / "t10k-labels-idx1-ubyte"
    lab.write_bytes((2051).to_bytes(4, "big") + lab.read_bytes()[4:])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*magic number 2051, expected 2049"):
        load_mnist(tmp_path)


def test_load_mnist_count_mismatch(tmp_path):
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(2049, np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        load_mnist(tmp_path)


def test_load_real_mnist_test_split():
    root = shared_data_dir() / "mnist"
    if not (root / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"reference MNIST files not present in {root}")
    x, y = load_mnist(root)
    assert x.shape == (10000, 1, 28, 28)
    assert 0.0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


# ---------------------------------------------------------------------------------- others


def test_load_digits():
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_dataset_and_subsample():
    full = load_dataset("tishby_12bit")
    assert isinstance(full, Dataset)
    assert full.n == 4096 and full.input_shape == (12,) and full.n_classes == 2 and full.discrete_inputs
    sub = load_dataset("tishby_12bit", size=100)
    again = load_dataset("tishby_12bit", size=100)
    assert sub.n == 100
    np.testing.assert_array_equal(sub.x, again.x)
    ids = sub.x.astype(np.int64) @ (2 ** np.arange(11, -1, -1))
    assert np.all(np.diff(ids) > 0)  # kept in dataset order
    assert ids[-1] > 2000  # a random subset, not the first 100
    np.testing.assert_array_equal(sub.y, full.y[ids])
    digits = load_dataset("digits", size=50)
    assert digits.x.shape == (50, 1, 8, 8) and digits.n_classes == 10 and not digits.discrete_inputs


def test_load_dataset_mnist_via_root(tmp_path):
    _write_mnist(tmp_path / "MNIST" / "raw")
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.x.shape == (5, 1, 28, 28) and ds.n_classes == 10


def test_load_dataset_mnist_split_selects_the_files(tmp_path):
    """dataset.split picks t10k-* or train-*; both can sit side by side under one root."""
    test_images, _ = _write_mnist(tmp_path, n=5, split="test")
    train_images = np.flip(_write_mnist(tmp_path, n=7, split="train")[0], axis=0)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(_idx_bytes(2051, np.ascontiguousarray(train_images)))
    test = load_dataset("mnist", root=tmp_path, split="test")
    train = load_dataset("mnist", root=tmp_path, split="train")
    assert test.n == 5 and train.n == 7
    assert np.array_equal(train.x[:, 0], train_images / np.float32(255.0))
    assert np.array_equal(test.x[:, 0], test_images / np.float32(255.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "digits", "split": "train"}, "only mnist has file splits"),
        ({"name": "mnst"}, "unknown dataset 'mnst'"),
        ({"name": "mnist"}, "needs root"),
        ({"name": "tishby_12bit", "size": 5000}, "size=5000"),
        ({"name": "tishby_12bit", "size": 0}, "size=0"),
    ],
)
def test_load_dataset_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


def test_train_eval_split():
    tr, ev = train_eval_split(4096, 0.8, seed=0)
    assert len(tr) == 3277 and len(ev) == 819
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, ev])), np.arange(4096))
    tr2, ev2 = train_eval_split(4096, 0.8, seed=0)
    np.testing.assert_array_equal(ev, ev2)
    _, ev3 = train_eval_split(4096, 0.8, seed=1)
    assert not np.array_equal(ev, ev3)
    tr_all, ev_none = train_eval_split(10, 1.0, seed=0)
    assert len(tr_all) == 10 and len(ev_none) == 0


@pytest.mark.parametrize("frac", [0.0, 1.5, -0.1])
def test_train_eval_split_rejects_fraction(frac):
    with pytest.raises(ValueError, match="train_fraction"):
        train_eval_split(10, frac, seed=0)
