"""Estimator-validation study: MI estimators against distributions with known MI.

The study config's ``validation`` section is a grid::

    validation:
      distributions: [gaussian, uniform_margins, student_t]   # names in infoplane.synthetic.DISTRIBUTIONS
      dims: [1, 5, 25]                                        # dimension of each side
      true_mi_bits: [0.5, 1, 2, 4]
      n: [2000]                                               # sample sizes
      seeds: [0, 1, 2]                                        # seeds of the sample draws
      estimators:                                             # infoplane.estimators entries
        - {name: ksg, k: 5}
        - {name: kl, k: 5, label: kl-5}                       # optional `label` names the row
        - {name: kde, noise_variance: 0.1, distributions: [label_gaussian]}  # only these rows

Every combination is one task (:func:`validation_tasks`): draw ``n`` samples from the
distribution with ``seed`` (the same draw for every estimator), run the estimator, record the
estimate and its standard error in bits and the wall time (:func:`run_validation_task`).
:func:`run_validation` runs all tasks serially or on a ``dask.distributed`` client and returns
the tidy table; :func:`bias_table` summarises it over seeds.

Table columns (:data:`COLUMNS`): ``distribution, dim, true_mi, n, seed, estimator, estimate, se,
seconds`` (MI in bits; ``true_mi`` is the distribution's exact MI; ``se`` NaN where the
estimator gives none).
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "SPEC_KEYS",
    "bias_table",
    "estimator_label",
    "run_validation",
    "run_validation_task",
    "validation_tasks",
]

COLUMNS: tuple[str, ...] = (
    "distribution",
    "dim",
    "true_mi",
    "n",
    "seed",
    "estimator",
    "estimate",
    "se",
    "seconds",
)

SPEC_KEYS: tuple[str, ...] = ("distributions", "dims", "true_mi_bits", "n", "seeds", "estimators")
"""Required keys of the ``validation`` spec (no others are allowed)."""

_SAMPLE_KEYS = ("distribution", "dim", "true_mi_bits", "n", "seed")

#: Keys of an estimator entry that are not estimator parameters.
ENTRY_KEYS: tuple[str, ...] = ("name", "label", "distributions")


def _entry_params(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in ENTRY_KEYS}


# ------------------------------------------------------------------------------ the grid


def estimator_label(entry: dict[str, Any]) -> str:
    """The ``estimator`` column of an entry: its ``label``, else ``name`` or ``name(k=v, ...)``
    with the parameters in sorted order."""
    if entry.get("label") is not None:
        return str(entry["label"])
    params = _entry_params(entry)
    if not params:
        return str(entry["name"])
    return f"{entry['name']}(" + ", ".join(f"{k}={params[k]!r}" for k in sorted(params)) + ")"


def _as_list(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec[key]
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise ValueError(f"validation.{key} must be a list; got {value!r}")
    items = list(value)
    if not items:
        raise ValueError(f"validation.{key} must not be empty")
    return items


def _check_ints(items: list[Any], key: str, minimum: int) -> list[int]:
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ValueError(f"validation.{key}: every entry must be an integer >= {minimum}; got {v!r}")
    return [int(v) for v in items]


def validation_tasks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand the ``validation`` spec into one task per (distribution, dim, true MI, n, seed,
    estimator).

    Parameters
    ----------
    spec : dict
        Keys :data:`SPEC_KEYS` (see the module docstring).

    Returns
    -------
    list of dict
        JSON-serialisable tasks with keys ``distribution, dim, true_mi_bits, n, seed,
        estimator`` (the entry, a dict with ``name``, optional ``label`` and parameters) and
        ``label``, ordered with the estimator varying fastest.

    Raises
    ------
    ValueError
        Naming the key: a missing or unknown key, an empty or non-list value, an unknown
        distribution, a bad dim/n/seed/MI, an invalid estimator entry, or an MI the
        distribution cannot have at some dim (e.g. ``label_gaussian`` needs fewer bits than
        ``log2`` of its classes; ``student_t`` needs MI > 0).
    """
    from infoplane.estimators import get_estimator
    from infoplane.synthetic import DISTRIBUTIONS

    if not isinstance(spec, dict):
        raise ValueError(f"validation spec must be a mapping; got {type(spec).__name__}")
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise ValueError(f"validation: unknown key {unknown[0]!r}; allowed keys: {', '.join(SPEC_KEYS)}")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise ValueError(f"validation: missing key {missing[0]!r}; required keys: {', '.join(SPEC_KEYS)}")

    dists = _as_list(spec, "distributions")
    for d in dists:
        if d not in DISTRIBUTIONS:
            raise ValueError(
                f"validation.distributions: unknown distribution {d!r}; choose from {', '.join(DISTRIBUTIONS)}"
            )
    dims = _check_ints(_as_list(spec, "dims"), "dims", 1)
    ns = _check_ints(_as_list(spec, "n"), "n", 2)
    seeds = _check_ints(_as_list(spec, "seeds"), "seeds", 0)
    mis = []
    for v in _as_list(spec, "true_mi_bits"):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
            math.isfinite(v) and v >= 0
        ):
            raise ValueError(f"validation.true_mi_bits: every entry must be a finite number >= 0; got {v!r}")
        mis.append(float(v))

    entries: list[dict[str, Any]] = []
    labels: list[str] = []
    for i, entry in enumerate(_as_list(spec, "estimators")):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValueError(f"validation.estimators[{i}]: must be a mapping with a `name`; got {entry!r}")
        try:
            get_estimator(entry["name"], **_entry_params(entry))
        except ValueError as exc:
            raise ValueError(f"validation.estimators[{i}]: {exc}") from None
        only = entry.get("distributions")
        if only is not None:
            if not isinstance(only, list) or not only or any(d not in dists for d in only):
                raise ValueError(
                    f"validation.estimators[{i}].distributions: must be a non-empty list of names from "
                    f"validation.distributions ({', '.join(dists)}); got {only!r}"
                )
        entries.append(dict(entry))
        labels.append(estimator_label(entry))
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ValueError(f"validation.estimators: two entries share the label {dup[0]!r}; give each a distinct `label`")

    # Feasibility of every (distribution, dim, MI) cell, checked now rather than in a worker.
    for dist, dim, mi in itertools.product(dists, dims, mis):
        try:
            DISTRIBUTIONS[dist](1, dim, mi, 0)
        except ValueError as exc:
            raise ValueError(f"validation.true_mi_bits: {mi:g} bits with {dist} at dim={dim}: {exc}") from None

    return [
        {
            "distribution": dist,
            "dim": dim,
            "true_mi_bits": mi,
            "n": n,
            "seed": seed,
            "estimator": entry,
            "label": label,
        }
        for dist, dim, mi, n, seed in itertools.product(dists, dims, mis, ns, seeds)
        for entry, label in zip(entries, labels)
        if entry.get("distributions") is None or dist in entry["distributions"]
    ]


# ------------------------------------------------------------------------------ running


def _draw(task: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    from infoplane.synthetic import DISTRIBUTIONS

    return DISTRIBUTIONS[task["distribution"]](task["n"], task["dim"], task["true_mi_bits"], task["seed"])


def _run_with_samples(task: dict[str, Any], sample: tuple[np.ndarray, np.ndarray, float]) -> dict[str, Any]:
    from infoplane.estimators import get_estimator

    x, y, true_mi = sample
    entry = task["estimator"]
    est = get_estimator(entry["name"], **_entry_params(entry))
    start = time.perf_counter()
    try:
        value, se = est.estimate_with_error(x, y)
    except ValueError as exc:
        raise ValueError(
            f"{task['label']} on {task['distribution']} (dim={task['dim']}, "
            f"true_mi_bits={task['true_mi_bits']:g}, n={task['n']}, seed={task['seed']}): {exc}"
        ) from exc
    seconds = time.perf_counter() - start
    return {
        "distribution": task["distribution"],
        "dim": int(task["dim"]),
        "true_mi": float(true_mi),
        "n": int(task["n"]),
        "seed": int(task["seed"]),
        "estimator": task["label"],
        "estimate": float(value),
        "se": float(se),
        "seconds": float(seconds),
    }


def run_validation_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task of :func:`validation_tasks` and return its table row (:data:`COLUMNS`).

    ``seconds`` is the wall time of the estimate alone (not the sampling).
    """
    return _run_with_samples(task, _draw(task))


def _run_batch(tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run tasks in order, drawing each distinct sample once."""
    rows = []
    cache_key, sample = None, None
    for task in tasks:
        key = tuple(task[k] for k in _SAMPLE_KEYS)
        if key != cache_key:
            cache_key, sample = key, _draw(task)
        rows.append(_run_with_samples(task, sample))
    return rows


def _batches(tasks: list[dict[str, Any]], n_parts: int) -> list[list[dict[str, Any]]]:
    """Group tasks that share a sample, then join consecutive groups into about ``n_parts``
    batches (each batch is then many small estimates, not one: keeps the per-task scheduling
    overhead small against the work)."""
    groups: list[list[dict[str, Any]]] = []
    for _, grp in itertools.groupby(tasks, key=lambda t: tuple(t[k] for k in _SAMPLE_KEYS)):
        groups.append(list(grp))
    per = max(1, math.ceil(len(groups) / max(1, n_parts)))
    return [sum(groups[i : i + per], []) for i in range(0, len(groups), per)]


def _n_workers(client) -> int:
    try:
        return max(1, len(client.scheduler_info()["workers"]))
    except Exception:  # noqa: BLE001 - any client without scheduler info: assume one worker
        return 1


def run_validation(spec: dict[str, Any], client=None, progress: bool = True) -> pd.DataFrame:
    """Run the whole validation grid and return the tidy table.

    Parameters
    ----------
    spec : dict
        The ``validation`` section (see :func:`validation_tasks`).
    client : dask.distributed.Client, optional
        When given, batches of tasks are mapped over its workers (``client.map`` then
        ``gather``); each batch holds every estimator of a few sample draws, about four
        batches per worker. Otherwise tasks run serially in this process.
    progress : bool, default True
        Show a tqdm progress bar (over batches with a client, over tasks otherwise).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, one row per task, in task order. Apart from ``seconds`` the
        table does not depend on ``client`` (every draw and estimator is seeded).
    """
    from tqdm.auto import tqdm

    tasks = validation_tasks(spec)
    if client is None:
        rows = []
        cache_key, sample = None, None
        for task in tqdm(tasks, desc="validation", disable=not progress, unit="task"):
            key = tuple(task[k] for k in _SAMPLE_KEYS)
            if key != cache_key:
                cache_key, sample = key, _draw(task)
            rows.append(_run_with_samples(task, sample))
    else:
        from distributed import as_completed

        batches = _batches(tasks, 4 * _n_workers(client))
        futures = client.map(_run_batch, batches, pure=False)
        size = {fut.key: len(batch) for fut, batch in zip(futures, batches)}
        with tqdm(total=len(tasks), desc="validation", disable=not progress, unit="task") as bar:
            for fut in as_completed(futures):
                bar.update(size[fut.key])
        rows = [row for part in client.gather(futures) for row in part]
    return pd.DataFrame(rows, columns=list(COLUMNS))


# ------------------------------------------------------------------------------ summary


def bias_table(df: pd.DataFrame) -> pd.DataFrame:
    """Bias, spread and error of each estimator over seeds.

    Parameters
    ----------
    df : DataFrame
        A table of :func:`run_validation` (:data:`COLUMNS`).

    Returns
    -------
    DataFrame
        One row per (distribution, dim, n, true_mi, estimator), sorted, with ``mean`` (mean
        estimate over seeds, bits), ``bias`` (mean - true_mi), ``std`` (standard deviation over
        seeds, ddof=1; NaN with one seed), ``rmse`` (root mean squared error against true_mi),
        ``n_seeds`` and ``seconds`` (mean wall time per estimate).
    """
    missing = [c for c in ("distribution", "dim", "n", "true_mi", "estimator", "estimate") if c not in df.columns]
    if missing:
        raise ValueError(f"bias_table: the table lacks column {missing[0]!r}")
    keys = ["distribution", "dim", "n", "true_mi", "estimator"]
    work = df.assign(_sq=(df["estimate"] - df["true_mi"]) ** 2)
    if "seconds" not in work.columns:
        work["seconds"] = np.nan
    g = work.groupby(keys, sort=True)
    out = pd.DataFrame(
        {
            "mean": g["estimate"].mean(),
            "std": g["estimate"].std(ddof=1),
            "rmse": np.sqrt(g["_sq"].mean()),
            "n_seeds": g["estimate"].size(),
            "seconds": g["seconds"].mean(),
        }
    ).reset_index()
    out.insert(out.columns.get_loc("mean") + 1, "bias", out["mean"] - out["true_mi"])
    return out
