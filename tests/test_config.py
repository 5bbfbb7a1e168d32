"""Config loading: defaults, one-line errors naming the key, hashing, and the shipped configs."""

from __future__ import annotations

import copy
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
        (lambda c: c["model"].update(activation="tanhh"),
         r"model\.activation: 'tanhh' is not allowed \(did you mean \"tanh\"\?\); choose one of tanh, relu"),
        (lambda c: c["training"].update(epochs=-3), r"training\.epochs: -3 is out of range; must be >= 1"),
        (lambda c: c["training"].update(epochz=3), r"training: unknown key 'epochz' \(did you mean \"epochs\"\?\)"),
        (lambda c: c.update(estimatorz=[]), r"unknown key 'estimatorz' \(did you mean \"estimators\"\?\)"),
        (lambda c: c["training"].update(lr="fast"), r"training\.lr: 'fast' has the wrong type; expected number"),
        (lambda c: c["dataset"].update(name="cifar"),
         r"dataset\.name: 'cifar' is not allowed; choose one of tishby_12bit, mnist, digits"),
        (lambda c: c["estimators"].__setitem__(0, {"name": "binning", "binz": 3}),
         r"estimators\[0\]: estimator 'binning' has no parameter 'binz' \(did you mean \"bins\"\?\)"),
        (lambda c: c["estimators"].__setitem__(0, {"name": "ksgg"}),
         r"estimators\[0\]: unknown estimator 'ksgg' \(did you mean \"ksg\"\?\)"),
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


# --- seed groups and stage configs (what each workflow stage reruns on) -----------------------


def test_seed_groups_are_consecutive_chunks_named_by_their_seeds(tiny_config):
    from infoplane.config import seed_groups

    tiny_config["seeds"] = [5, 3, 8, 1, 9]
    tiny_config["training"]["seeds_per_job"] = 2
    assert seed_groups(validate_config(tiny_config)) == {"seeds-5-3": (5, 3), "seeds-8-1": (8, 1), "seeds-9": (9,)}
    tiny_config["training"].pop("seeds_per_job")  # default: one seed per job
    assert seed_groups(validate_config(tiny_config)) == {f"seeds-{s}": (s,) for s in (5, 3, 8, 1, 9)}


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_adding_a_seed_changes_only_the_last_group(tiny_config, size):
    from infoplane.config import seed_groups

    tiny_config["seeds"] = [0, 1, 2, 3, 4]
    tiny_config["training"]["seeds_per_job"] = size
    before = seed_groups(validate_config(tiny_config))
    tiny_config["seeds"].append(7)
    after = seed_groups(validate_config(tiny_config))
    changed = set(before.items()) ^ set(after.items())
    last_before, last_after = list(before.items())[-1], list(after.items())[-1]
    assert changed <= {last_before, last_after}
    assert 7 in last_after[1] and sum(map(len, after.values())) == 6


def test_seeds_per_job_must_be_positive(tiny_config):
    tiny_config["training"]["seeds_per_job"] = 0
    with pytest.raises(ConfigError, match=r"training\.seeds_per_job: 0 is out of range; must be >= 1"):
        validate_config(tiny_config, source="bad.yaml")


def _changed_stages(tiny_config, edit) -> set[str]:
    from infoplane.config import STAGE_SECTIONS, stage_hash

    base = validate_config(tiny_config)
    edited = copy.deepcopy(tiny_config)
    edit(edited)
    edited = validate_config(edited)
    return {stage for stage in STAGE_SECTIONS if stage_hash(base, stage) != stage_hash(edited, stage)}


@pytest.mark.parametrize(
    "edit, stages",
    [
        (lambda c: c.update(figures={"smoothing": {"enabled": True}}), {"figures"}),
        (lambda c: c["estimators"][0].update(bins=20), {"estimate", "collect", "figures"}),
        (lambda c: c.update(analysis={"bootstrap": 3}), {"estimate", "collect"}),
        (lambda c: c.update(analysis={"clustering": True}), {"estimate", "collect"}),
        (lambda c: c.update(analysis={"split": ["all", "train"]}), {"estimate", "collect", "figures", "sweep"}),
        (lambda c: c.update(compression={"layers": {"method": "pca", "dim": 2}}), {"compress", "estimate", "collect"}),
        (lambda c: c["seeds"].append(7), {"collect"}),
        (lambda c: c["training"].update(lr=0.5), {"train", "compress", "estimate", "collect"}),
        (lambda c: c["training"].update(threads=2), {"train", "compress", "estimate", "collect"}),
        (lambda c: c["training"].update(seeds_per_job=2), set()),
        (lambda c: c.update(study="other"),
         {"train", "compress", "estimate", "collect", "figures", "validation", "synthetic", "synthetic_autoencoder",
          "sweep"}),
    ],
    ids=["figures", "estimator", "analysis", "clustering", "split", "compression", "seed", "training", "threads",
         "seeds_per_job", "study"],
)
def test_stage_hash_changes_with_the_sections_the_stage_reads(tiny_config, edit, stages):
    assert _changed_stages(tiny_config, edit) == stages


def test_seeds_per_job_does_not_change_the_training_hash(tiny_config):
    base = validate_config(tiny_config)
    tiny_config["training"]["seeds_per_job"] = 3
    assert config_hash(validate_config(tiny_config)) == config_hash(base)


@pytest.mark.parametrize("stage", ["train", "compress", "estimate", "collect", "figures"])
def test_stage_config_round_trip(tmp_path, tiny_config, stage):
    from infoplane.config import STAGE_SECTIONS, stage_config, write_stage_config

    cfg = validate_config(tiny_config)
    path = write_stage_config(cfg, stage, tmp_path / f"{stage}.yaml")
    loaded = load_config(path)
    present = [s for s in STAGE_SECTIONS[stage] if s in cfg]  # `dask` only when the study sets it
    assert set(loaded) == set(present)
    for section in present:
        assert loaded[section] == cfg[section], section
    assert stage_config(loaded, stage) == stage_config(cfg, stage)
    if "model" in loaded:
        assert config_hash(loaded) == config_hash(cfg), "stores made from a stage config keep the study's hash"


def test_estimate_stage_carries_the_dask_scheduler(tmp_path, tiny_config):
    """The estimate job reads `dask.scheduler` from its stage config (it used to be dropped, and
    the estimation ran on a local cluster)."""
    from infoplane.config import write_stage_config

    tiny_config["dask"] = {"scheduler": "tcp://127.0.0.1:8786"}
    loaded = load_config(write_stage_config(validate_config(tiny_config), "estimate", tmp_path / "e.yaml"))
    assert loaded["dask"] == {"scheduler": "tcp://127.0.0.1:8786"}


def test_stage_config_of_a_validation_study(tmp_path):
    from infoplane.config import write_stage_config

    cfg = load_config(REPO / "config" / "studies" / "estimator_validation.yaml")
    loaded = load_config(write_stage_config(cfg, "validation", tmp_path / "v.yaml"))
    assert loaded == {"study": cfg["study"], "validation": cfg["validation"]}


@pytest.mark.parametrize(
    "body, message",
    [
        ({"infoplane_stage": "trian", "study": "s"},
         r"infoplane_stage: 'trian' is not a stage; choose one of train, compress"),
        ({"infoplane_stage": "figures", "study": "s", "figures": {}},
         r"a figures stage config needs study, estimators, figures, analysis; missing: estimators"),
        ({"infoplane_stage": "figures", "study": "s", "estimators": [{"name": "binning"}],
          "figures": {"smoothing": {"windw": 3}}}, r"figures\.smoothing: unknown key 'windw'"),
    ],
)
def test_bad_stage_config_one_line_naming_the_file(tmp_path, body, message):
    path = tmp_path / "stage.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"record": {"samples": "eval"}, "analysis": {"split": ["all", "train"]}},
         "bad.yaml: analysis.split: 'train' has no samples when record.samples is 'eval'"),
        ({"dataset": {"train_fraction": 1}, "analysis": {"split": ["test"]}},
         "bad.yaml: analysis.split: 'test' has no samples when dataset.train_fraction is 1"),
        ({"analysis": {"split": ["all", "all"]}}, "bad.yaml: analysis.split: ['all', 'all'] has non-unique"),
        ({"analysis": {"split": ["eval"]}}, "bad.yaml: analysis.split.0: 'eval' is not allowed"),
    ],
    ids=["train-of-eval-samples", "test-without-held-out", "repeated", "unknown"],
)
def test_split_that_cannot_have_samples_is_a_config_error(tiny_config, edit, message):
    for section, values in edit.items():
        tiny_config.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_config, source="bad.yaml")
    assert str(err.value).startswith(message), str(err.value)


def test_split_and_clustering_defaults(tiny_config):
    analysis = validate_config(tiny_config)["analysis"]
    assert analysis["split"] == ["all"] and analysis["clustering"] is False
    tiny_config["record"]["samples"] = "eval"
    tiny_config["analysis"] = {"split": ["test", "all"]}
    assert validate_config(tiny_config)["analysis"]["split"] == ["test", "all"]
