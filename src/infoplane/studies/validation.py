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

The section is validated by :func:`infoplane.config.validate_config` (the schema is the only
check of keys, types and ranges); these functions trust it. An entry's ``distributions`` runs it
on those of the grid's distributions only (none of them in the grid: the entry has no rows).

Every combination is one task (:func:`validation_tasks`): draw ``n`` samples from the
distribution with ``seed`` (the same draw for every estimator), run the estimator, record the
estimate and its standard error in bits and the wall time (:func:`run_validation_task`).
:func:`run_validation` runs all tasks serially or on a ``dask.distributed`` client and returns
the tidy table; :func:`bias_table` summarises it over seeds.

Table columns (:data:`COLUMNS`): ``distribution, dim, true_mi, n, seed, estimator, estimate, se,
seconds, status, reason`` (MI in bits; ``true_mi`` is the distribution's exact MI; ``se`` NaN
where the estimator gives none). An estimator that refuses a sample (a ``ValueError``) gives NaN
with ``status`` ``refused`` and its message in ``reason``
(:func:`infoplane.studies.common.estimate_or_refuse`); :func:`bias_table` leaves those out.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from infoplane.config import estimator_label, estimator_params
from infoplane.estimators import get_estimator
from infoplane.studies.common import estimate_or_refuse
from infoplane.synthetic import DISTRIBUTIONS
from infoplane.tables import VALIDATION_COLUMNS

__all__ = [
    "COLUMNS",
    "bias_table",
    "run_validation",
    "run_validation_task",
    "validation_tasks",
]

COLUMNS: tuple[str, ...] = VALIDATION_COLUMNS
"""Columns of the table (:data:`infoplane.tables.VALIDATION_COLUMNS`)."""

_SAMPLE_KEYS = ("distribution", "dim", "true_mi_bits", "n", "seed")


# ------------------------------------------------------------------------------ the grid


def _check_feasible(spec: Mapping[str, Any]) -> None:
    """Every (distribution, dim, MI) cell can be drawn: checked now rather than in a worker (a
    rule between values that the schema cannot state, e.g. ``label_gaussian`` needs fewer bits
    than ``log2`` of its classes; ``student_t`` needs MI > 0)."""
    for dist, dim, mi in itertools.product(spec["distributions"], spec["dims"], spec["true_mi_bits"]):
        try:
            DISTRIBUTIONS[dist](1, dim, mi, 0)
        except ValueError as exc:
            raise ValueError(f"validation.true_mi_bits: {mi:g} bits with {dist} at dim={dim}: {exc}") from None


def validation_tasks(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Expand the ``validation`` section into one task per (distribution, dim, true MI, n, seed,
    estimator).

    Parameters
    ----------
    spec : dict
        The ``validation`` section of a config validated by
        :func:`infoplane.config.validate_config` (see the module docstring).

    Returns
    -------
    list of dict
        JSON-serialisable tasks with keys ``distribution, dim, true_mi_bits, n, seed,
        estimator`` (the config entry) and ``label`` (:func:`infoplane.config.estimator_label`),
        ordered with the estimator varying fastest.

    Raises
    ------
    ValueError
        Naming ``validation.true_mi_bits`` when a distribution cannot have an MI at some dim.
    """
    _check_feasible(spec)
    return [
        {
            "distribution": dist,
            "dim": int(dim),
            "true_mi_bits": float(mi),
            "n": int(n),
            "seed": int(seed),
            "estimator": dict(entry),
            "label": estimator_label(entry),
        }
        for dist, dim, mi, n, seed in itertools.product(
            spec["distributions"], spec["dims"], spec["true_mi_bits"], spec["n"], spec["seeds"]
        )
        for entry in spec["estimators"]
        if dist in entry.get("distributions", [dist])
    ]


# ------------------------------------------------------------------------------ running


def _draw(task: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    return DISTRIBUTIONS[task["distribution"]](task["n"], task["dim"], task["true_mi_bits"], task["seed"])


def _run_with_samples(task: dict[str, Any], sample: tuple[np.ndarray, np.ndarray, float]) -> dict[str, Any]:
    x, y, true_mi = sample
    entry = task["estimator"]
    est = get_estimator(entry["name"], **estimator_params(entry))
    start = time.perf_counter()
    result = estimate_or_refuse(est, x, y)
    seconds = time.perf_counter() - start
    return {
        "distribution": task["distribution"],
        "dim": int(task["dim"]),
        "true_mi": float(true_mi),
        "n": int(task["n"]),
        "seed": int(task["seed"]),
        "estimator": task["label"],
        "estimate": result["estimate"],
        "se": result["se"],
        "seconds": float(seconds),
        "status": result["status"],
        "reason": result["reason"],
    }


def run_validation_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task of :func:`validation_tasks` and return its table row (:data:`COLUMNS`).

    ``seconds`` is the wall time of the estimate alone (not the sampling).
    """
    return _run_with_samples(task, _draw(task))


def _run_batch(tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run tasks in order, drawing each distinct sample once."""
    rows = []
    cache_key: tuple | None = None
    sample: tuple[np.ndarray, np.ndarray, float] | None = None
    for task in tasks:
        key = tuple(task[k] for k in _SAMPLE_KEYS)
        if sample is None or key != cache_key:
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
    return [list(itertools.chain.from_iterable(groups[i : i + per])) for i in range(0, len(groups), per)]


def _n_workers(client) -> int:
    try:
        return max(1, len(client.scheduler_info()["workers"]))
    except Exception:  # noqa: BLE001 - any client without scheduler info: assume one worker
        return 1


def run_validation(spec: Mapping[str, Any], client: Any = None, progress: bool = True) -> pd.DataFrame:
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
        Show a tqdm progress bar (counting tasks).

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
        with tqdm(total=len(tasks), desc="validation", disable=not progress, unit="task") as bar:
            for batch in _batches(tasks, len(tasks)):  # one batch per sample draw
                rows += _run_batch(batch)
                bar.update(len(batch))
    else:
        from distributed import as_completed

        batches = _batches(tasks, 4 * _n_workers(client))
        futures = client.map(_run_batch, batches, pure=False)
        size = {fut.key: len(batch) for fut, batch in zip(futures, batches, strict=True)}
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
        ``n_seeds`` (the finite estimates: refused rows are NaN and left out of every column)
        and ``seconds`` (mean wall time per estimate).
    """
    keys = ["distribution", "dim", "n", "true_mi", "estimator"]
    work = df.assign(_sq=(df["estimate"] - df["true_mi"]) ** 2)
    g = work.groupby(keys, sort=True)
    out = pd.DataFrame(
        {
            "mean": g["estimate"].mean(),
            "std": g["estimate"].std(ddof=1),
            "rmse": np.sqrt(g["_sq"].mean()),
            "n_seeds": g["estimate"].count(),
            "seconds": g["seconds"].mean(),
        }
    ).reset_index()
    out.insert(out.columns.get_loc("mean") + 1, "bias", out["mean"] - out["true_mi"])
    return out
