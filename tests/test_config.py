"""Config loading: defaults, one-line errors naming the key, hashing, and the shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infoplane.config import ConfigError, config_hash, load_config, validate_config

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "config").glob("**/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg["study"]
    if "model" in cfg:
        assert cfg["training"]["epochs"] >= 1
        assert cfg["record"]["spacing"] in ("log", "linear")


def test_defaults_are_filled(tiny_config):
    cfg = validate_config(tiny_config)
    assert cfg["dataset"]["train_fraction"] == 0.8
    assert cfg["record"]["samples"] == "all"
    assert cfg["compression"]["x"]["method"] == "none"
    assert cfg["figures"]["smoothing"]["enabled"] is False
    assert tiny_config["dataset"] == {"name": "tishby_12bit"}, "input must not be modified"


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda c: c["model"].update(activation="tanhh"), r"model\.activation: 'tanhh' is not allowed \(did you mean \"tanh\"\?\); choose one of tanh, relu"),
        (lambda c: c["training"].update(epochs=-3), r"training\.epochs: -3 is out of range; must be >= 1"),
        (lambda c: c["training"].update(epochz=3), r"training: unknown key 'epochz' \(did you mean \"epochs\"\?\)"),
        (lambda c: c.update(estimatorz=[]), r"unknown key 'estimatorz' \(did you mean \"estimators\"\?\)"),
        (lambda c: c["training"].update(lr="fast"), r"training\.lr: 'fast' has the wrong type; expected number"),
        (lambda c: c["dataset"].update(name="cifar"), r"dataset\.name: 'cifar' is not allowed; choose one of tishby_12bit, mnist, digits"),
        (lambda c: c["estimators"].__setitem__(0, {"name": "binning", "binz": 3}), r"estimators\[0\]: estimator 'binning' has no parameter 'binz' \(did you mean \"bins\"\?\)"),
        (lambda c: c["estimators"].__setitem__(0, {"name": "ksgg"}), r"estimators\[0\]: unknown estimator 'ksgg' \(did you mean \"ksg\"\?\)"),
        (lambda c: c.pop("training"), r"a network study needs .*missing: training"),
        (lambda c: c["dataset"].update(name="mnist"), r"dataset\.root: required for mnist"),
        (lambda c: c["seeds"].append(0), r"seeds: .* has non-unique elements"),
    ],
)
def test_bad_config_one_clear_line(tiny_config, mutate, pattern):
    mutate(tiny_config)
    with pytest.raises(ConfigError, match=pattern) as info:
        validate_config(tiny_config, source="bad.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("bad.yaml: ")


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_round_trip(tmp_path, tiny_config):
    cfg = validate_config(tiny_config)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    again = load_config(path)
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)


def test_hash_tracks_training_sections_only(tiny_config):
    base = validate_config(tiny_config)
    more_seeds = validate_config({**tiny_config, "seeds": [0, 1, 2]})
    assert config_hash(base) == config_hash(more_seeds), "adding a seed must not invalidate trained stores"
    other = dict(tiny_config, training={**tiny_config["training"], "lr": 0.02})
    assert config_hash(validate_config(other)) != config_hash(base)


def test_config_readme_is_generated_from_the_schema():
    from infoplane.config import schema_markdown

    readme = (REPO / "config" / "README.md").read_text()
    assert readme == schema_markdown(), "config/README.md is stale: run `infoplane config-docs > config/README.md`"
    schema_keys = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())["properties"]
    for key in schema_keys:
        assert f"| `{key}` |" in readme
