"""Every infoplane estimator on the tasks of the bmi benchmark with known MI (Czyz et al. 2023).

Czyz, P., Grabowski, F., Vogt, J. E., Beerenwinkel, N. & Marx, A. (2023). Beyond normal: on the
evaluation of mutual information estimators. NeurIPS 2023. Package ``benchmark-mi`` (import
``bmi``); it is not a dependency of infoplane, only of this script.

Install (beside numpy 2 in the project's venv). ``benchmark-mi`` 0.1.3 pins numpy<2, pandas<2 and
pydantic<2, so a plain ``pip install benchmark-mi jax==0.4.30 jaxlib==0.4.30`` would downgrade
numpy to 1.26 and pandas to 1.5 (breaking infoplane). Install its dependencies first, then the
package itself without its pins (its sampling code works with numpy 2.4, pandas 3.1 and
pydantic 2.14; jax 0.4.30 is the first jaxlib built against numpy 2, an unpinned jax resolves to
0.4.38, with which ``import bmi`` fails)::

    pip install jax==0.4.30 jaxlib==0.4.30 equinox==0.10.11 optax==0.1.9 chex==0.1.90 \\
        "tensorflow-probability[jax]==0.20.1"
    pip install --no-deps benchmark-mi==0.1.3

Run::

    python benchmarks/bmi_tasks.py [--n 5000] [--seeds 0 1 2] [--max-dim 5] [--out FILE]

For every task of ``bmi.benchmark.BENCHMARK_TASKS`` with at most ``--max-dim`` dimensions per
side, every seed draws ``task.sample(n, seed)`` and every estimator of
:func:`infoplane.estimators.available` (default parameters, except the neural ones: 200 training
steps instead of 500, ``--neural-steps``; infonce takes about 17 s a call at 500 on 2 loaded
cores) estimates I(X;Y). The table (markdown, printed and written to ``--out``) has, per task, the
true MI, a classic KSG (:func:`classic_ksg`, the peer) and each estimator's mean over seeds, all in
bits. A cell ends in ``!`` when the estimate misses the truth by more than max(0.1 nats, 10 %)
*and* by more than the classic KSG does; ``refused`` when the estimator raised ValueError on
every seed (the reasons are listed under the table).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from infoplane.estimators import available, get_estimator
from infoplane.units import nats_to_bits

K = 5
TOL_NATS = 0.1
TOL_REL = 0.1


def classic_ksg(x: np.ndarray, y: np.ndarray, k: int = K, seed: int = 0) -> float:
    """KSG estimator 1 (Kraskov et al. 2004) as the common peers write it, in bits.

    Columns scaled to unit variance (as scikit-learn does), ``1e-10 * N(0, 1)`` tie-breaking
    noise, the k-th max-norm neighbour in the joint space from a cKDTree, and the counts of
    points strictly closer in each marginal: ``psi(k) + psi(n) - <psi(n_x + 1) + psi(n_y + 1)>``.
    """
    rng = np.random.default_rng(seed)
    x, y = (a / a.std(axis=0) for a in (np.asarray(x, float), np.asarray(y, float)))
    x = x + 1e-10 * rng.standard_normal(x.shape)
    y = y + 1e-10 * rng.standard_normal(y.shape)
    xy = np.hstack([x, y])
    eps = cKDTree(xy).query(xy, k=k + 1, p=np.inf)[0][:, -1]
    r = np.nextafter(eps, 0)
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1
    nats = digamma(k) + digamma(len(x)) - np.mean(digamma(nx + 1) + digamma(ny + 1))
    return nats_to_bits(float(nats))


def tolerance_bits(true_bits: float) -> float:
    """The benchmark's tolerance: max(0.1 nats, 10 % of the truth), in bits."""
    return max(nats_to_bits(TOL_NATS), TOL_REL * abs(true_bits))


def bmi_tasks(max_dim: int) -> dict:
    """bmi's benchmark tasks with at most ``max_dim`` dimensions per side, by id."""
    from bmi.benchmark import BENCHMARK_TASKS

    return {tid: t for tid, t in BENCHMARK_TASKS.items() if max(t.dim_x, t.dim_y) <= max_dim}


def run_task(task, n: int, seeds: list[int], estimators: list[str], steps: int) -> dict:
    """Estimates (bits) of every estimator and the classic KSG on ``seeds`` draws of ``task``;
    estimators with a ``steps`` parameter (the neural ones) train for ``steps`` steps.

    Returns ``{"true": bits, name: [values or None (refused)], "reasons": {name: reason}}``.
    """
    out: dict = {"true": nats_to_bits(float(task.mutual_information)), "reasons": {}, "seconds": {}}
    for seed in seeds:
        x, y = (np.asarray(a, dtype=np.float64) for a in task.sample(n, seed=seed))
        out.setdefault("classic KSG", []).append(classic_ksg(x, y, seed=seed))
        for name in estimators:
            t0 = time.perf_counter()
            try:
                est = get_estimator(name)
                if "steps" in est.defaults:
                    est = get_estimator(name, steps=steps)
                value = est.estimate(x, y)
            except ValueError as exc:
                value = None
                out["reasons"][name] = str(exc)
            out["seconds"][name] = out["seconds"].get(name, 0.0) + time.perf_counter() - t0
            out.setdefault(name, []).append(value)
    return out


def _cell(values: list, true: float, ksg_err: float) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "refused"
    mean = float(np.mean(got))
    err = abs(mean - true)
    flag = "!" if err > tolerance_bits(true) and err > ksg_err + 1e-6 else ""  # 1e-6: ksg == classic
    part = "" if len(got) == len(values) else f" ({len(values) - len(got)} refused)"
    return f"{mean:.3f}{flag}{part}"


def markdown(results: dict[str, dict], estimators: list[str]) -> str:
    """The table of :func:`run_task` results and the refusal reasons below it."""
    cols = ["true", "classic KSG", *estimators]
    lines = ["| bmi task | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    reasons: list[str] = []
    for tid, res in results.items():
        true = res["true"]
        ksg_err = abs(float(np.mean(res["classic KSG"])) - true)
        cells = [f"{true:.3f}", f"{np.mean(res['classic KSG']):.3f}"]
        cells += [_cell(res[name], true, ksg_err) for name in estimators]
        lines.append(f"| {tid} | " + " | ".join(cells) + " |")
        reasons += [f"- {tid}, `{name}`: {why}" for name, why in res["reasons"].items()]
    refusals = "\n\nRefusals (last reason per task and estimator):\n" + "\n".join(reasons) if reasons else ""
    return "\n".join(lines) + refusals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=5000, help="samples per draw (default 5000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-dim", type=int, default=5, help="largest dimension per side (default 5)")
    p.add_argument("--estimators", nargs="+", default=None, help="default: all of available()")
    p.add_argument("--tasks", nargs="+", default=None, help="task ids (default: all up to --max-dim)")
    p.add_argument("--neural-steps", type=int, default=200, help="training steps of mine/infonce (default 200)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/bmi_tasks.md"))
    args = p.parse_args(argv)
    estimators = args.estimators or available()
    tasks = bmi_tasks(args.max_dim)
    if args.tasks:
        unknown = [t for t in args.tasks if t not in tasks]
        if unknown:
            p.error(f"unknown task {unknown[0]!r} (or over --max-dim); known: {', '.join(tasks)}")
        tasks = {t: tasks[t] for t in args.tasks}
    results: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    for i, (tid, task) in enumerate(tasks.items(), 1):
        results[tid] = run_task(task, args.n, args.seeds, estimators, args.neural_steps)
        for name, s in results[tid]["seconds"].items():
            seconds[name] = seconds.get(name, 0.0) + s
        print(f"[{i}/{len(tasks)}] {tid}", file=sys.stderr, flush=True)
    table = markdown(results, estimators)
    calls = len(tasks) * len(args.seeds)
    timing = ", ".join(f"`{k}` {v / calls:.2f} s" for k, v in seconds.items())
    text = (
        f"n = {args.n}, seeds {args.seeds}, neural steps {args.neural_steps}, MI in bits; "
        f"`!`: off by more than max(0.1 nats, 10 %) and by more than the classic KSG.\n\n{table}\n\n"
        f"Mean seconds per call: {timing}\n"
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
