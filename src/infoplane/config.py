"""Load, fill defaults, validate and hash study configurations.

This is the one module that knows the config's shape. The schema lives in
``workflow/schemas/config.schema.yaml`` (the only copy; the workflow validates with it too).
Everything else receives the validated dict with every default filled in.

Errors are :class:`ConfigError` (a ``ValueError``) with a single line that names the file, the
key path and what is allowed, e.g.::

    config/x.yaml: model.activation: 'tanhh' is not allowed; choose one of tanh, relu, ...
    config/x.yaml: training: unknown key 'epoch' (did you mean "epochs"?)
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

#: Sections whose content determines the trained networks and their activation stores.
TRAINING_SECTIONS: tuple[str, ...] = ("dataset", "model", "training", "record")
#: Sections that additionally determine the MI estimates.
ESTIMATION_SECTIONS: tuple[str, ...] = TRAINING_SECTIONS + ("compression", "estimators", "analysis")

_NETWORK_SECTIONS = ("seeds", "dataset", "model", "training", "estimators")

#: The config sections each workflow stage reads: a stage's jobs rerun when, and only when, one of
#: its sections changes (the workflow hands each job ``results/<study>/.config/<stage>-<hash>.yaml``
#: holding just these sections; see :func:`stage_config` and :func:`load_config`).
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "train": ("study", *TRAINING_SECTIONS),
    "compress": ("study", *TRAINING_SECTIONS, "compression"),
    # `dask` (the scheduler address) travels with the jobs that start Dask work; changing it
    # reruns them (the numbers do not change, tests/test_cluster.py)
    "estimate": ("study", *ESTIMATION_SECTIONS, "dask"),
    "collect": ("study", "seeds", *ESTIMATION_SECTIONS),
    # the figures draw one split of analysis.split (see _STAGE_KEYS)
    "figures": ("study", "estimators", "figures", "analysis"),
    "validation": ("study", "validation", "dask"),
    "synthetic": ("study", "synthetic", "dask"),
    "synthetic_autoencoder": ("study", "synthetic"),
    "sweep": ("study", "sweep", "analysis"),
}
#: Stages that read only some keys of a section: the rest is left out of their config and hash
#: (the synthetic study's independent autoencoders do not depend on its estimators, compressions
#: or PCA size, so changing those refits none of them; the figures read only which split to draw).
_STAGE_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "synthetic_autoencoder": {
        "synthetic": ("images", "seeds", "true_mi_nats", "n", "image_size", "rectangle_min_pixels", "ae"),
    },
    "figures": {"analysis": ("split",)},
    "sweep": {"analysis": ("split",)},
}
#: Sections a study may leave out (no schema default): a stage config holds them only when set.
_OPTIONAL_SECTIONS: tuple[str, ...] = ("dask",)
#: Top-level key that marks a file as a stage config (its value is the stage).
STAGE_KEY = "infoplane_stage"
#: Keys that only schedule work (how seeds are grouped into jobs) and never change a result:
#: left out of every hash and stage config, so changing them reruns nothing by themselves.
_SCHEDULING_KEYS: dict[str, tuple[str, ...]] = {"training": ("seeds_per_job",)}


class ConfigError(ValueError):
    """A config that does not follow the schema; the message is one line naming the key."""


def schema_path() -> Path:
    """Path of ``config.schema.yaml`` (repository checkout or installed package data)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "workflow" / "schemas" / "config.schema.yaml"
        if candidate.is_file():
            return candidate
    packaged = resources.files("infoplane").joinpath("config.schema.yaml")
    if packaged.is_file():  # pragma: no cover - wheel installs
        return Path(str(packaged))
    raise FileNotFoundError("config.schema.yaml not found next to the package or in workflow/schemas/")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON schema (as a dict)."""
    with open(schema_path()) as fh:
        return yaml.safe_load(fh)


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        name = ref.split("/")[-1]
        return schema["$defs"][name]
    return node


def fill_defaults(
    cfg: dict[str, Any], node: dict[str, Any] | None = None, root: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return a copy of ``cfg`` with every schema default filled in (recursively).

    Sections with ``default: {}`` in the schema are created when absent and then filled.
    """
    root = root or load_schema()
    node = _resolve(node or root, root)
    out = copy.deepcopy(cfg)
    props = node.get("properties", {})
    for key, sub in props.items():
        sub = _resolve(sub, root)
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" or "properties" in sub:
            if key in out and isinstance(out[key], dict):
                out[key] = fill_defaults(out[key], sub, root)
    return out


def _keypath(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def _format_error(err: jsonschema.ValidationError, schema: dict[str, Any]) -> str:
    where = _keypath(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = list(_resolve(err.schema, schema).get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        key = extra[0] if extra else "?"
        hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
        sugg = f' (did you mean "{hint[0]}"?)' if hint else ""
        return f"{where}: unknown key {key!r}{sugg}; allowed keys: {', '.join(allowed)}"
    if err.validator == "enum":
        choices = ", ".join(str(c) for c in err.validator_value)
        hint = difflib.get_close_matches(str(err.instance), [str(c) for c in err.validator_value], n=1, cutoff=0.5)
        sugg = f' (did you mean "{hint[0]}"?)' if hint else ""
        return f"{where}: {err.instance!r} is not allowed{sugg}; choose one of {choices}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    if err.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[err.validator]
        return f"{where}: {err.instance!r} is out of range; must be {op} {err.validator_value}"
    if err.validator == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return f"{where}: {err.instance!r} has the wrong type; expected {want}"
    return f"{where}: {err.message}"


def _check_estimators(entries: list[dict[str, Any]], where: str) -> None:
    """Each entry's parameters are valid for its estimator, and no two entries share a label."""
    from infoplane.estimators import get_estimator

    labels = []
    for i, entry in enumerate(entries):
        try:
            get_estimator(entry["name"], **estimator_params(entry))
        except ValueError as exc:
            raise ConfigError(f"{where}[{i}]: {exc}") from None
        labels.append(estimator_label(entry))
    dup = {lab for lab in labels if labels.count(lab) > 1}
    if dup:
        raise ConfigError(f"{where}: two estimators share the label {sorted(dup)[0]!r}; give each a distinct `label`")


def _check_sample_id_estimators(cfg: dict[str, Any]) -> None:
    """A network study whose X is the sample id (``analysis.x: ids``, or ``auto`` on a dataset
    with discrete inputs) may list only estimators that declare ``accepts_sample_ids``."""
    from infoplane.datasets import DISCRETE_INPUT_DATASETS
    from infoplane.estimators import available
    from infoplane.estimators.base import accepts_sample_ids

    x = cfg.get("analysis", {}).get("x", "auto")
    dataset = cfg["dataset"]["name"]
    if not (x == "ids" or (x == "auto" and dataset in DISCRETE_INPUT_DATASETS)):
        return
    ok = [n for n in available() if accepts_sample_ids(n)]
    for i, entry in enumerate(cfg["estimators"]):
        if not accepts_sample_ids(entry["name"]):
            why = ("analysis.x is 'ids'" if x == "ids"
                   else f"analysis.x 'auto' means ids for {dataset} (discrete inputs)")
            raise ConfigError(
                f"estimators[{i}]: {entry['name']!r} cannot estimate I(X;T) with X = sample ids ({why}; every "
                f"id occurs once); set analysis.x: inputs (the input vectors: the same I(X;T), one input "
                f"per id) or use one of {', '.join(ok)}"
            )


def _check_sp_noise(cfg: dict[str, Any]) -> None:
    """An ``sp`` estimator on a noisy network (``model.additive_noise`` = beta > 0) models that
    network's own noise: its ``beta`` must be the model's (a different beta would estimate the MI
    of another network). On a deterministic network (beta 0) any beta is allowed: it then sets
    the resolution of a noisy proxy of the layer."""
    beta = float(cfg["model"].get("additive_noise", 0.0))
    if beta <= 0:
        return
    for i, entry in enumerate(cfg["estimators"]):
        if entry["name"] == "sp" and float(estimator_params(entry).get("beta", -1.0)) != beta:
            raise ConfigError(
                f"estimators[{i}]: sp has beta={estimator_params(entry).get('beta', 'default')} but the network's "
                f"model.additive_noise is {beta}; set beta: {beta} (the SP estimator measures I(X;T) of the noisy "
                f"layer T = output + N(0, beta^2 I) of this network)"
            )


def _check_splits(cfg: dict[str, Any]) -> None:
    """Every split of ``analysis.split`` has samples when that follows from the config: no
    ``train`` when the stores hold only held-out samples (``record.samples: eval``), no ``test``
    when every sample trains (``dataset.train_fraction: 1``). Other empty splits are found when
    the stores are read (infoplane.estimation.check_splits)."""
    splits = cfg.get("analysis", {}).get("split", ["all"])
    if "train" in splits and cfg.get("record", {}).get("samples") == "eval":
        raise ConfigError(
            "analysis.split: 'train' has no samples when record.samples is 'eval' (the stores then hold "
            "only the held-out samples); remove 'train' from analysis.split or set record.samples: all"
        )
    if "test" in splits and float(cfg.get("dataset", {}).get("train_fraction", 0.8)) >= 1:
        raise ConfigError(
            "analysis.split: 'test' has no samples when dataset.train_fraction is 1 (every sample "
            "trains); remove 'test' from analysis.split or lower dataset.train_fraction"
        )


def _check_study_sections(cfg: dict[str, Any]) -> None:
    """A whole study: all network sections or none, and something to run."""
    present = [s for s in _NETWORK_SECTIONS if s in cfg]
    if present and len(present) != len(_NETWORK_SECTIONS):
        missing = [s for s in _NETWORK_SECTIONS if s not in cfg]
        raise ConfigError(
            f"(top level): a network study needs {', '.join(_NETWORK_SECTIONS)}; missing: {', '.join(missing)}"
        )
    if not present and "validation" not in cfg and "synthetic" not in cfg:
        raise ConfigError(
            "(top level): nothing to run; give a network study (model, training, ...), `validation` or `synthetic`"
        )


def _check_stage_sections(cfg: Mapping[str, Any], stage: Any) -> None:
    """A stage config: a known stage and every section that stage reads."""
    if not isinstance(stage, str) or stage not in STAGE_SECTIONS:
        raise ConfigError(f"{STAGE_KEY}: {stage!r} is not a stage; choose one of {', '.join(STAGE_SECTIONS)}")
    missing = [s for s in STAGE_SECTIONS[stage] if s not in cfg and s not in _OPTIONAL_SECTIONS]
    if missing:
        raise ConfigError(f"(top level): a {stage} stage config needs {', '.join(STAGE_SECTIONS[stage])}; "
                          f"missing: {', '.join(missing)}")


def _check_semantics(cfg: dict[str, Any]) -> None:
    if "estimators" in cfg:
        _check_estimators(cfg["estimators"], "estimators")
    if "estimators" in cfg and "dataset" in cfg:
        _check_sample_id_estimators(cfg)
    if "estimators" in cfg and "model" in cfg:
        _check_sp_noise(cfg)
    if "analysis" in cfg:
        _check_splits(cfg)
    if "validation" in cfg:
        _check_estimators(cfg["validation"]["estimators"], "validation.estimators")
    if "synthetic" in cfg:
        _check_estimators(cfg["synthetic"]["estimators"], "synthetic.estimators")
    if "dataset" in cfg and cfg["dataset"]["name"] != "mnist" and cfg["dataset"].get("split", "test") != "test":
        raise ConfigError(
            f"dataset.split: {cfg['dataset']['split']!r} applies to mnist only; "
            f"{cfg['dataset']['name']} has one split (remove the key)"
        )
    if "dataset" in cfg and cfg["dataset"]["name"] == "mnist" and not cfg["dataset"].get("root"):
        raise ConfigError(
            "dataset.root: required for mnist; a directory with the MNIST IDX files (see config/README.md)"
        )
    smoothing = cfg.get("figures", {}).get("smoothing", {})
    if smoothing and smoothing.get("polyorder", 0) >= smoothing.get("window", 3):
        raise ConfigError(
            f"figures.smoothing.polyorder: {smoothing['polyorder']} must be smaller than window ({smoothing['window']})"
        )


def validate_config(cfg: Mapping[str, Any], source: str = "config", stage: str | None = None) -> dict[str, Any]:
    """Validate ``cfg`` against the schema and return it with all defaults filled in.

    Parameters
    ----------
    cfg : mapping
        The raw config (as parsed from YAML).
    source : str
        Name of the file, used as the prefix of error messages.
    stage : str, optional
        Validate a stage config instead of a whole study: ``cfg`` must hold every section of
        ``STAGE_SECTIONS[stage]`` and the result holds only those sections.

    Raises
    ------
    ConfigError
        One line naming ``source``, the key path and what is allowed.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(cfg).__name__}")
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(dict(cfg)), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_format_error(errors[0], schema)}{more}")
    filled = fill_defaults(dict(cfg))
    try:
        if stage is None:
            _check_study_sections(filled)
            if "sweep" in filled:
                _check_sweep(dict(cfg), source)
        else:
            _check_stage_sections(filled, stage)
            filled = {key: filled[key] for key in STAGE_SECTIONS[stage] if key in filled}
        _check_semantics(filled)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return filled


# ---- Sweeps: a grid of conditions in one study -------------------------------------------------

#: The config keys a ``sweep`` section may vary (dotted paths), in the order condition names
#: list them (whatever the order in the file).
SWEEP_KEYS: tuple[str, ...] = (
    "model.activation", "model.widths", "model.additive_noise", "training.batch_size", "training.lr",
    "training.weight_decay", "dataset.train_fraction", "estimators",
)


def _value_text(key: str, value: Any) -> str:
    """How a swept value appears in a condition name and in the tables' sweep columns."""
    if key == "estimators":
        return "+".join(estimator_label(entry) if isinstance(entry, Mapping) else str(entry) for entry in value)
    if isinstance(value, (list, tuple)):
        return "x".join(_value_text(key, v) for v in value)
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def sweep_value(key: str, value: Any) -> Any:
    """The value of sweep key ``key`` in the tables' ``<key>`` column: numbers and strings as they
    are, lists as their text in the condition name (``[10, 7]`` -> ``"10x7"``, estimator lists
    as their labels joined by ``+``)."""
    return _value_text(key, value) if isinstance(value, (list, tuple)) else value


def condition_name(overrides: Mapping[str, Any]) -> str:
    """A condition's name from its swept values, keys in :data:`SWEEP_KEYS` order:
    ``{"training.lr": 0.001, "model.activation": "relu"}`` -> ``"activation-relu_lr-0.001"``.

    Derived from the values, not list positions: adding a value to a sweep renames no
    existing condition.
    """
    parts = [f"{key.rsplit('.', 1)[-1]}-{_value_text(key, overrides[key])}" for key in SWEEP_KEYS if key in overrides]
    return "_".join(parts)


def sweep_conditions(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The conditions of a study's ``sweep`` section: name -> {dotted key: value}.

    Every combination of the swept values (keys in :data:`SWEEP_KEYS` order, values in config
    order); ``{}`` for a study without a sweep.
    """
    import itertools

    sweep = cfg.get("sweep") or {}
    keys = [key for key in SWEEP_KEYS if key in sweep]
    out: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(sweep[key] for key in keys)):
        overrides = dict(zip(keys, values, strict=False))
        out[condition_name(overrides)] = overrides
    return out


def condition_config(cfg: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The base config (without ``sweep``) with each dotted key of ``overrides`` set to its value."""
    out = copy.deepcopy({key: value for key, value in cfg.items() if key != "sweep"})
    for key, value in overrides.items():
        *sections, leaf = key.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = copy.deepcopy(value)
    return out


def _check_sweep(raw: dict[str, Any], source: str) -> None:
    """Every swept value is valid where it goes, and no two values of a key share a name."""
    if "model" not in raw:
        raise ConfigError("sweep: a sweep varies a network study; this config has no model/training sections")
    for key in SWEEP_KEYS:
        names: dict[str, Any] = {}
        for value in raw["sweep"].get(key, []):
            try:
                validate_config(condition_config(raw, {key: value}), source="")
            except ConfigError as exc:
                raise ConfigError(f"sweep.{key}: value {value!r}: {str(exc).removeprefix(': ')}") from None
            name = _value_text(key, value)
            if name in names:
                raise ConfigError(f"sweep.{key}: values {names[name]!r} and {value!r} both give the condition name "
                                  f"{key.rsplit('.', 1)[-1]}-{name}; drop one "
                                  "(or give estimator entries distinct labels)")
            names[name] = value
    for name, overrides in sweep_conditions(raw).items():
        try:
            validate_config(condition_config(raw, overrides), source="")
        except ConfigError as exc:
            raise ConfigError(f"sweep: condition {name}: {str(exc).removeprefix(': ')}") from None


def condition_configs(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A validated study's conditions: name -> its validated config (base + overrides, no
    ``sweep``). A study without a sweep is one condition named ``""`` (the study itself)."""
    if "sweep" not in cfg:
        return {"": dict(cfg)}
    return {name: validate_config(condition_config(cfg, overrides), source=f"sweep condition {name}")
            for name, overrides in sweep_conditions(cfg).items()}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file, validate it and fill defaults (see :func:`validate_config`).

    The file is either a whole study (``config/...``) or a stage config written by
    :func:`write_stage_config` (top-level key ``infoplane_stage``): then the result holds only
    that stage's sections (``STAGE_SECTIONS[stage]``), with their defaults filled in.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(raw, Mapping) and STAGE_KEY in raw:
        raw = dict(raw)
        return validate_config(raw, source=str(path), stage=raw.pop(STAGE_KEY))
    return validate_config(raw or {}, source=str(path))


def _without_scheduling(cfg: Mapping[str, Any], sections: tuple[str, ...]) -> dict[str, Any]:
    """The given sections of ``cfg`` (None when absent) without the job-scheduling keys."""
    subset = {key: copy.deepcopy(cfg.get(key)) for key in sections}
    for section, keys in _SCHEDULING_KEYS.items():
        section_cfg = subset.get(section)
        if isinstance(section_cfg, dict):
            for key in keys:
                section_cfg.pop(key, None)
    return subset


def config_hash(cfg: Mapping[str, Any], sections: tuple[str, ...] = TRAINING_SECTIONS) -> str:
    """A short, stable hash (16 hex digits) of the given sections of a validated config.

    By default only the sections that determine a trained network (dataset, model, training,
    record) count, so adding a seed or an estimator does not invalidate trained stores. Keys
    that only schedule jobs (``training.seeds_per_job``) never count.
    """
    subset = _without_scheduling(cfg, sections)
    blob = json.dumps(subset, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: Keys of an estimator entry that are not the estimator's parameters: ``name``, ``label`` and
#: (validation entries) ``distributions``.
ESTIMATOR_ENTRY_KEYS: tuple[str, ...] = ("name", "label", "distributions")


def stage_config(cfg: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The sections of a validated study config that the jobs of ``stage`` read.

    Job-scheduling keys are left out (they change no result). The sections a study does not
    have are left out too (a validation-only study has no ``train`` stage to speak of).
    """
    if stage not in STAGE_SECTIONS:
        raise ConfigError(f"{STAGE_KEY}: {stage!r} is not a stage; choose one of {', '.join(STAGE_SECTIONS)}")
    subset = _without_scheduling(cfg, STAGE_SECTIONS[stage])
    for section, keys in _STAGE_KEYS.get(stage, {}).items():
        if isinstance(subset.get(section), dict):
            subset[section] = {k: v for k, v in subset[section].items() if k in keys}
    return {key: value for key, value in subset.items() if key in cfg}


def stage_hash(cfg: Mapping[str, Any], stage: str) -> str:
    """16 hex digits that change exactly when :func:`stage_config` of ``stage`` changes."""
    return config_hash(stage_config(cfg, stage), STAGE_SECTIONS[stage])


def write_stage_config(cfg: Mapping[str, Any], stage: str, path: str | Path) -> Path:
    """Write ``stage``'s config (see :func:`stage_config`) to ``path`` atomically, for
    :func:`load_config` to read back; returns ``path``."""
    from infoplane.atomic import write_text_atomic

    body = {STAGE_KEY: stage, **stage_config(cfg, stage)}
    header = (f"# infoplane: the config sections the {stage} jobs read (hash {stage_hash(cfg, stage)});\n"
              "# written by the workflow from the study config. Edit the study config, not this file.\n")
    return write_text_atomic(path, header + yaml.safe_dump(body, sort_keys=False))


def group_name(seeds: tuple[int, ...] | list[int]) -> str:
    """The name of a seed group, listing its member seeds: ``(3, 4)`` -> ``"seeds-3-4"``."""
    return "seeds-" + "-".join(str(int(s)) for s in seeds)


def seed_groups(cfg: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The training jobs of a network study: group name -> its seeds.

    Groups are consecutive chunks of ``seeds`` (config order) of ``training.seeds_per_job``
    seeds (the last one may be shorter). A name lists its seeds (:func:`group_name`), so adding
    a seed at the end changes (or adds) only the last group.
    """
    seeds = [int(s) for s in cfg["seeds"]]
    size = int(cfg["training"].get("seeds_per_job", 1))
    chunks = [tuple(seeds[i:i + size]) for i in range(0, len(seeds), size)]
    return {group_name(chunk): chunk for chunk in chunks}


def estimator_label(entry: Mapping[str, Any]) -> str:
    """The name under which an estimator entry appears in tables and figures: its ``label``,
    else its ``name`` (two entries of one estimator need distinct labels)."""
    return str(entry.get("label", entry["name"]))


def estimator_params(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator's own parameters of a config entry (all but :data:`ESTIMATOR_ENTRY_KEYS`)."""
    return {k: v for k, v in entry.items() if k not in ESTIMATOR_ENTRY_KEYS}


def _doc_rows(node: dict[str, Any], root: dict[str, Any], prefix: str) -> list[str]:
    rows = []
    for key, sub in node.get("properties", {}).items():
        sub_r = _resolve(sub, root)
        path = f"{prefix}{key}"
        allowed = ""
        if "enum" in sub_r:
            allowed = " \\| ".join(f"`{v}`" for v in sub_r["enum"])
        elif "type" in sub_r:
            t = sub_r["type"]
            allowed = " or ".join(t) if isinstance(t, list) else t
            bounds = [f"{op} {sub_r[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="))
                      if k in sub_r]
            if bounds:
                allowed += " (" + ", ".join(bounds) + ")"
        default = f"`{json.dumps(sub_r['default'])}`" if "default" in sub_r and sub_r["default"] != {} else ""
        desc = " ".join(str(sub.get("description") or sub_r.get("description", "")).split())
        desc = desc.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
        rows.append(f"| `{path}` | {allowed} | {default} | {desc} |")
        if "properties" in sub_r:
            rows.extend(_doc_rows(sub_r, root, path + "."))
    return rows


def schema_markdown() -> str:
    """The user documentation of every config key (config/README.md), generated from the schema."""
    schema = load_schema()
    lines = [
        "# Config keys",
        "",
        "<!-- Generated from workflow/schemas/config.schema.yaml by `infoplane config-docs`; edit the schema. -->",
        "",
        " ".join(schema["description"].split()),
        "",
        "A study is one YAML file: `config/config.yaml` is the default study, `config/studies/` holds",
        "the paper-style ones. Run one with `snakemake --cores N --configfile <file>`; check one with",
        "`infoplane check-config <file>`. Unknown keys, wrong types and out-of-range values stop the",
        "run before any job, with one line naming the key. Estimator entries take the estimator's own",
        "parameters (`infoplane estimators` lists them with their defaults).",
        "",
        "| key | allowed | default | meaning |",
        "|---|---|---|---|",
        *_doc_rows(schema, schema, ""),
        "",
    ]
    return "\n".join(lines)
