"""Wall time and peak memory of the estimation stage on stores shaped like the paper-scale
Shwartz-Ziv & Tishby study: one group of seeds, 280 recorded epochs, 4096 samples, layers of
widths 10, 7, 5, 4, 3, 2 and a softmax output of 2 (33 floats per sample and epoch), 30-bin
binning on [-1, 1] (``config/studies/tishby2017.yaml``'s estimator; I(X;T) with X the unique
sample ids, I(T;Y) with 2 labels).

Run: ``python benchmarks/estimate_stage.py [--seeds 25] [--epochs 280] [--workers 2]``. The
stores are written once with the store API (``create_store`` + one Zarr write per layer +
``finalize_store``; tanh of Gaussians whose scale grows with the epoch) into ``--dir`` and
reused. Each measured run is a fresh process (``estimate_stores`` with 1 worker, then with
``--workers``), timed from the call (imports done, cluster start included); prints wall
seconds, ms per (layer, epoch) block, the CPU seconds of the stage's process and its Dask
workers (what the stage costs on idle cores: on a shared machine wall time also counts the
time other processes hold the cores), and the peak resident memory of the largest process
(the stage's own process or one Dask worker). Writes the table to
``benchmarks/out/estimate_stage.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "studies" / "tishby2017.yaml"
WIDTHS = {"1": 10, "2": 7, "3": 5, "4": 4, "5": 3, "6": 2, "softmax": 2}


def make_store(path: Path, seed: int, epochs: int, n: int, chash: str) -> None:
    """One seed's synthetic activation store (written to ``path`` unless it is complete)."""
    import zarr

    from infoplane.store import create_store, finalize_store

    rng = np.random.default_rng(seed)
    create_store(path, layers=WIDTHS, epochs=np.arange(1, epochs + 1), sample_id=np.arange(n),
                 label=rng.integers(0, 2, n), is_train=rng.random(n) < 0.8,
                 inputs=((np.arange(n)[:, None] >> np.arange(12)) & 1).astype(np.float32),
                 attrs={"seed": seed, "config_hash": chash, "discrete_inputs": True, "study": "stage_benchmark"})
    group = zarr.open_group(str(path), mode="r+")
    scale = np.geomspace(0.3, 5.0, epochs).astype(np.float32)[:, None, None]
    for name, width in WIDTHS.items():
        group[f"act_{name}"][:] = np.tanh(rng.standard_normal((epochs, n, width), dtype=np.float32) * scale)
    finalize_store(path)


def stores_for(args: argparse.Namespace, cfg: dict) -> list[Path]:
    from infoplane.config import config_hash

    root = Path(args.dir) / f"e{args.epochs}_n{args.n}"
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"seed{s}.zarr" for s in range(args.seeds)]
    for s, p in enumerate(paths):
        meta = p / "zarr.json"
        if not (meta.exists() and json.loads(meta.read_text())["attributes"].get("complete")):
            t0 = time.perf_counter()
            make_store(p, s, args.epochs, args.n, config_hash(cfg))
            print(f"wrote {p} in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths


def run_one(stores: list[str], workers: int) -> None:
    """Child process: time ``estimate_stores`` and print one JSON line."""
    from infoplane.config import load_config
    from infoplane.estimation import estimate_stores

    cfg = load_config(CONFIG)
    usages = map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    cpu0 = sum(u.ru_utime + u.ru_stime for u in usages)
    t0 = time.perf_counter()
    df = estimate_stores(stores, cfg, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    # KiB; RUSAGE_CHILDREN: the largest of the Dask worker processes, joined when the cluster closed
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    peak = max(u.ru_maxrss for u in usage)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage) - cpu0  # this process and its Dask workers
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rows": len(df), "sum_I_XT": float(df["I_XT"].sum()),
                      "sum_I_TY": float(df["I_TY"].sum()), "peak_rss_mib": peak / 1024}))


def measure(stores: list[Path], workers: int) -> dict:
    """Run the stage in a fresh process; wall time, and peak RSS of its largest process."""
    proc = subprocess.run([sys.executable, __file__, "--child", str(workers), *map(str, stores)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        run_one(argv[2:], int(argv[1]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=25)
    ap.add_argument("--epochs", type=int, default=280)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/infoplane_stage_benchmark", help="Where the synthetic stores live.")
    ap.add_argument("--skip-serial", action="store_true")
    args = ap.parse_args(argv)
    from infoplane.config import load_config

    cfg = load_config(CONFIG)
    stores = stores_for(args, cfg)
    blocks = args.seeds * args.epochs * len(WIDTHS)
    rows = ["| workers | seeds | blocks | wall s | ms per (layer, epoch) | CPU s (all processes) | CPU ms per block | "
            "peak RSS, largest process (MiB) |", "|---|---|---|---|---|---|---|---|"]
    results = {}
    for workers in ([] if args.skip_serial else [1]) + [args.workers]:
        r = measure(stores, workers)
        results[workers] = r
        assert r["rows"] == blocks, r
        rows.append(f"| {workers} | {args.seeds} | {blocks} | {r['wall_s']:.1f} | {1e3 * r['wall_s'] / blocks:.3f} | "
                    f"{r['cpu_s']:.1f} | {1e3 * r['cpu_s'] / blocks:.3f} | {r['peak_rss_mib']:.0f} |")
        print(rows[-1], flush=True)
    sums = {(round(r["sum_I_XT"], 9), round(r["sum_I_TY"], 9)) for r in results.values()}
    assert len(sums) == 1, f"serial and parallel tables differ: {sums}"
    table = "\n".join(rows)
    print(table)
    out = REPO / "benchmarks" / "out" / "estimate_stage.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Estimation stage\n\n{args.seeds} seeds x {args.epochs} epochs x {args.n} samples, "
                   f"layer widths {list(WIDTHS.values())}, binning 30 bins on [-1, 1].\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
