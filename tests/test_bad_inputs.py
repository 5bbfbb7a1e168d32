"""Bad input gets one clear error that names the key, file or size at fault.

Complements tests/test_config.py (top-level and training keys, enum/type basics), test_datasets.py
(MNIST missing files, truncated and wrong-magic IDX files), test_store.py (synthetic stores) and
test_estimators.py (k=6 with 6 samples): here the remaining config keys read from YAML files, the
CLI end to end (exit status 2, one line on stderr), MNIST files that are not IDX at all, real
trained stores that are damaged or come from another config, and too few samples for k-NN.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY_NETWORK_CONFIG

from infoplane.config import ConfigError, config_hash, load_config, validate_config


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("INFOPLANE_DEBUG", None)
    return env


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infoplane.cli", *args], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess, command: str) -> str:
    """Assert exit status 2 and exactly one line on stderr; return it."""
    lines = [li for li in proc.stderr.splitlines() if li.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"infoplane {command}: error: "), lines[0]
    return lines[0]


def write_cfg(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# ------------------------------------------------------------------------------ config files


def _set(section: str | None, **values):
    def mutate(cfg: dict) -> None:
        (cfg if section is None else cfg.setdefault(section, {})).update(values)
    return mutate


def _add_estimator(**entry):
    return lambda cfg: cfg["estimators"].append(entry)


def _replace_estimator(**entry):
    return lambda cfg: cfg["estimators"].__setitem__(0, entry)


CONFIG_CASES = [
    # misspelled / unknown keys in the sections test_config.py does not try
    (_set("record", spacng="log"),
     r"record: unknown key 'spacng' \(did you mean \"spacing\"\?\); allowed keys: num_epochs"),
    (_set("dataset", nmae="x"), r"dataset: unknown key 'nmae' \(did you mean \"name\"\?\)"),
    (_set("model", width=[3]), r"model: unknown key 'width' \(did you mean \"widths\"\?\)"),
    # YAML reads a bare `on:` as the boolean True (why record.on was renamed to record.samples)
    (lambda c: c["record"].update(yaml.safe_load("on: all")), r"record: unknown key True; allowed keys: .*samples"),
    # wrong types
    (_set("model", widths="6,4"), r"model\.widths: '6,4' has the wrong type; expected array"),
    (_set("training", epochs=2.5), r"training\.epochs: 2\.5 has the wrong type; expected integer"),
    (_set("training", epochs=True), r"training\.epochs: True has the wrong type; expected integer"),
    (_set(None, seeds="0"), r"seeds: '0' has the wrong type; expected array"),
    # out of range
    (_set("model", widths=[6, 0]), r"model\.widths\.1: 0 is out of range; must be >= 1"),
    (_set(None, seeds=[-1]), r"seeds\.0: -1 is out of range; must be >= 0"),
    (_set("dataset", train_fraction=1.5), r"dataset\.train_fraction: 1\.5 is out of range; must be <= 1"),
    (_set("dataset", train_fraction=0), r"dataset\.train_fraction: 0 is out of range; must be > 0"),
    (_set("training", lr=0), r"training\.lr: 0 is out of range; must be > 0"),
    (_set("training", batch_size=0), r"training\.batch_size: 0 is out of range; must be >= 1"),
    (_set("dataset", size=5), r"dataset\.size: 5 is out of range; must be >= 20"),
    (_set("dataset", split="train"), r"dataset\.split: 'train' applies to mnist only; tishby_12bit has one split"),
    (_set(None, study="my study/1"), r"study: 'my study/1' does not match"),
    (_set("analysis", x="idz"), r"analysis\.x: 'idz' is not allowed \(did you mean \"ids\"\?\)"),
    # estimator parameters that do not exist or are invalid
    (_add_estimator(name="ksg", kk=3),
     r"estimators\[1\]: estimator 'ksg' has no parameter 'kk' \(did you mean \"k\"\?\); "
     r"its parameters are: k, seed"),
    (_add_estimator(name="kde", bandwidth=0.1),
     r"estimators\[1\]: estimator 'kde' has no parameter 'bandwidth'; its parameters are: noise_variance"),
    (_add_estimator(name="ksg", k=0), r"estimators\[1\]: ksg: k must be an integer >= 1; got k=0"),
    (_add_estimator(name="ksg", k="five"), r"estimators\[1\]: ksg: k must be an integer >= 1; got k='five'"),
    (_add_estimator(name="kde", noise_variance=-1),
     r"estimators\[1\]: kde: noise_variance must be a positive finite number"),
    (_replace_estimator(name="binning", bins=0),
     r"estimators\[0\]: binning: bins must be a positive integer; got bins=0"),
    (_replace_estimator(name="binning", range=[1, -1]), r"estimators\[0\]: binning: range must satisfy lo < hi"),
    (_replace_estimator(bins=3), r"estimators\.0: 'name' is a required property"),
    (_add_estimator(name="binning", bins=10),
     r"estimators: two estimators share the label 'binning'; give each a distinct `label`"),
]


@pytest.mark.parametrize("mutate, pattern", CONFIG_CASES)
def test_bad_config_file_one_line(tmp_path, mutate, pattern):
    cfg = copy.deepcopy(TINY_NETWORK_CONFIG)
    mutate(cfg)
    path = write_cfg(tmp_path / "bad.yaml", cfg)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg


def test_config_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- study: x\n")
    message = f"{path}: the config must be a mapping of keys to values, got list"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


# ---------------------------------------------------------------------------------- the CLI


def test_cli_train_bad_config_exits_2_with_one_line(tmp_path):
    cfg = copy.deepcopy(TINY_NETWORK_CONFIG)
    cfg["training"]["epoch"] = cfg["training"].pop("epochs")
    path = write_cfg(tmp_path / "bad.yaml", cfg)
    proc = cli("train", "--config", str(path), "--seeds", "0", "--outdir", str(tmp_path / "acts"),
               "--metrics", str(tmp_path / "m.csv"), "--workdir", str(tmp_path / "work"))
    line = one_error_line(proc, "train")
    assert f"{path}: training: unknown key 'epoch' (did you mean \"epochs\"?)" in line
    assert not (tmp_path / "acts").exists() and not (tmp_path / "work").exists()


def test_cli_check_config_unknown_estimator_parameter(tmp_path):
    cfg = copy.deepcopy(TINY_NETWORK_CONFIG)
    cfg["estimators"] = [{"name": "ksg", "neighbours": 3}]
    path = write_cfg(tmp_path / "bad.yaml", cfg)
    line = one_error_line(cli("check-config", str(path)), "check-config")
    pattern = (r"estimators\[0\]: estimator 'ksg' has no parameter 'neighbours'; "
               r"its parameters are: k, seed, jitter, backend")
    assert re.search(pattern, line), line


@pytest.mark.slow
def test_cli_train_mnist_root_that_does_not_exist(tmp_path):
    root = tmp_path / "no" / "such" / "dir"
    cfg = copy.deepcopy(TINY_NETWORK_CONFIG)
    cfg["dataset"] = {"name": "mnist", "root": str(root)}
    path = write_cfg(tmp_path / "mnist.yaml", cfg)
    proc = cli("train", "--config", str(path), "--seeds", "0", "--outdir", str(tmp_path / "acts"),
               "--metrics", str(tmp_path / "m.csv"), "--workdir", str(tmp_path / "work"))
    line = one_error_line(proc, "train")
    assert str(root / "MNIST" / "raw") in line  # where to put the files
    assert "t10k-images-idx3-ubyte" in line and "t10k-labels-idx1-ubyte" in line  # which files
    assert "download=True" in line  # how to get them
    assert not (tmp_path / "acts").exists()


@pytest.mark.slow
def test_cli_train_dataset_size_larger_than_dataset(tmp_path):
    cfg = copy.deepcopy(TINY_NETWORK_CONFIG)
    cfg["dataset"]["size"] = 5000
    path = write_cfg(tmp_path / "big.yaml", cfg)
    proc = cli("train", "--config", str(path), "--seeds", "0", "--outdir", str(tmp_path / "acts"),
               "--metrics", str(tmp_path / "m.csv"), "--workdir", str(tmp_path / "work"))
    line = one_error_line(proc, "train")
    assert "size=5000" in line and "4096" in line, line


# --------------------------------------------------------------------------------- MNIST files


@pytest.mark.parametrize(
    "name, content, pattern",
    [
        ("t10k-images-idx3-ubyte", b"<html><body>404 Not Found</body></html>" * 4,
         r"t10k-images-idx3-ubyte: not an MNIST IDX file .*magic number"),
        ("t10k-images-idx3-ubyte", b"", r"t10k-images-idx3-ubyte: not an IDX file \(only 0 bytes\)"),
        ("t10k-images-idx3-ubyte.gz", b"<html><body>404 Not Found</body></html>" * 4,
         r"t10k-images-idx3-ubyte\.gz: cannot read the IDX file \(Not a gzipped file"),
    ],
    ids=["html-instead-of-idx", "empty-file", "html-instead-of-gzip"],
)
def test_mnist_file_that_is_not_idx_names_the_file(tmp_path, name, content, pattern):
    from infoplane.datasets import load_mnist

    (tmp_path / name).write_bytes(content)
    labels = "t10k-labels-idx1-ubyte" + (".gz" if name.endswith(".gz") else "")
    (tmp_path / labels).write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path)) + "/" + pattern):
        load_mnist(tmp_path)


def test_mnist_root_that_does_not_exist_says_where_and_how(tmp_path):
    from infoplane.datasets import load_dataset

    root = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "MNIST" / "raw")) + ".*download=True"):
        load_dataset("mnist", root=str(root))


# ------------------------------------------------------------------------ real trained stores


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A real 12-bit activation store (3 epochs) and its config file."""
    from infoplane.training import train_run

    where = tmp_path_factory.mktemp("trained")
    raw = copy.deepcopy(TINY_NETWORK_CONFIG)
    raw["seeds"] = [0]
    raw["training"]["epochs"] = 3
    raw["record"]["num_epochs"] = 3
    cfg = validate_config(raw)
    train_run(cfg, 0, where / "s.zarr", where / "m.csv", where / "work", progress=False)
    other = copy.deepcopy(raw)
    other["training"]["lr"] = 0.02
    return {
        "store": where / "s.zarr",
        "cfg": cfg,
        "cfg_path": write_cfg(where / "config.yaml", raw),
        "other_path": write_cfg(where / "other.yaml", other),
        "other_hash": config_hash(validate_config(other)),
    }


def _copy_store(trained: dict, dst: Path) -> Path:
    shutil.copytree(trained["store"], dst)
    return dst


def test_store_from_another_config_is_refused(trained):
    from infoplane.store import check_store

    check_store(trained["store"], config_hash(trained["cfg"]))
    expected = (f"store {trained['store']} was made by config {config_hash(trained['cfg'])}, "
                f"expected {trained['other_hash']}")
    with pytest.raises(ValueError, match=re.escape(expected)):
        check_store(trained["store"], trained["other_hash"])


def test_cli_estimate_refuses_store_from_another_config(tmp_path, trained):
    proc = cli("estimate", "--config", str(trained["other_path"]), "--stores", str(trained["store"]),
               "--out", str(tmp_path / "mi.csv"), "--quiet")
    line = one_error_line(proc, "estimate")
    assert "made by config" in line and str(trained["store"]) in line


def test_cli_estimate_corrupt_chunk_names_the_file(tmp_path, trained):
    store = _copy_store(trained, tmp_path / "s.zarr")
    chunk = store / "act_2" / "c" / "1" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte: the zstd checksum must catch it
    chunk.write_bytes(bytes(raw))
    proc = cli("estimate", "--config", str(trained["cfg_path"]), "--stores", str(store),
               "--out", str(tmp_path / "mi.csv"), "--quiet")
    line = one_error_line(proc, "estimate")
    assert f"chunk file {chunk} is corrupt" in line, line
    assert "delete the store and rerun the training" in line
    assert not (tmp_path / "mi.csv").exists()


def test_store_with_damaged_metadata_names_the_store(tmp_path, trained):
    from infoplane.store import open_store

    store = _copy_store(trained, tmp_path / "s.zarr")
    meta = store / "act_1" / "zarr.json"
    meta.write_text(meta.read_text()[:20])
    with pytest.raises(ValueError, match=re.escape(f"{store} is not a readable Zarr activation store")):
        open_store(store)


def test_complete_store_with_missing_chunk_is_refused(tmp_path, trained):
    from infoplane.store import open_store

    store = _copy_store(trained, tmp_path / "s.zarr")
    chunk = store / "act_1" / "c" / "1" / "0" / "0"
    chunk.unlink()
    with pytest.raises(ValueError, match=re.escape(str(chunk))):
        open_store(store)


def test_cli_estimate_on_something_that_is_not_a_store(tmp_path, trained):
    bogus = tmp_path / "seed0.zarr"
    bogus.mkdir()
    proc = cli("estimate", "--config", str(trained["cfg_path"]), "--stores", str(bogus),
               "--out", str(tmp_path / "mi.csv"), "--quiet")
    line = one_error_line(proc, "estimate")
    assert f"{bogus} is not a Zarr activation store (no zarr.json)" in line


# ------------------------------------------------------------------------- too few samples


@pytest.mark.parametrize(
    "method, y_kind, pattern",
    [
        ("ksg", "continuous", r"ksg: k=5 neighbours but only 4 samples; need k < n"),
        ("ksg", "labels", r"ksg: k=5 neighbours but only 4 samples; need k < n"),
        ("kl", "continuous", r"kl: k=5 neighbours but only 4 samples; need k < n"),
    ],
)
def test_knn_with_fewer_samples_than_k(method, y_kind, pattern):
    from infoplane.estimators import mutual_information

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2))
    y = rng.normal(size=(4, 1)) if y_kind == "continuous" else np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=pattern):
        mutual_information(x, y, method=method, k=5)


@pytest.mark.parametrize("method", ["binning", "adaptive_binning", "kde", "ksg", "kl"])
def test_one_sample_is_refused(method):
    from infoplane.estimators import mutual_information

    x = np.array([[0.3, 0.1]])
    y = np.array([1]) if method == "kde" else np.array([[0.2]])
    with pytest.raises(ValueError, match=r"need at least 2 samples; got 1|k=5 neighbours but only 1 samples"):
        mutual_information(x, y, method=method)
