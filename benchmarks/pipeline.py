"""Wall time, CPU time and peak memory of every stage of a study, and batched vs one-seed training.

Usage::

    python benchmarks/pipeline.py                                   # the default study
    python benchmarks/pipeline.py --configfile config/studies/tishby2017.yaml
    python benchmarks/pipeline.py --skip-study --seeds 10 --epochs 200   # only the training comparison

1. Runs ``snakemake --cores N --configfile STUDY`` in a fresh directory (``--workdir``, default a
   temporary one) and prints, per rule, the jobs' wall seconds, CPU seconds and peak resident
   memory from Snakemake's per-job benchmark files (``results/<study>/benchmarks/<rule>/*.tsv``),
   with the end-to-end wall time and each rule's share of it (jobs run in parallel, so shares of
   the summed job time are given too) and the size of the activation stores.
2. Trains the same ``--seeds`` seeds of the study's network (shortened to ``--epochs`` epochs) once
   as one batched group (``training.train_group``) and once one seed per group, in this process,
   and prints the CPU seconds of each and the speed-up (CPU time: a shared machine's other load
   does not inflate it).
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def run_study(configfile: Path, workdir: Path, cores: int) -> float:
    """Run the study in ``workdir``; returns the end-to-end wall seconds."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--cores", str(cores), "--configfile", str(configfile.resolve())]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=workdir, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def stage_table(results: Path) -> pd.DataFrame:
    """Per rule: jobs, summed wall and CPU seconds, the largest peak RSS (MB)."""
    rows = []
    for tsv in sorted((results / "benchmarks").glob("*/*.tsv")):
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append({"rule": tsv.parent.name, "wall_s": float(b["s"]), "cpu_s": float(b["cpu_time"]),
                     "max_rss_mb": float(b["max_rss"])})
    df = pd.DataFrame(rows)
    return df.groupby("rule").agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"),
                                  max_rss_mb=("max_rss_mb", "max")).sort_values("wall_s", ascending=False)


def directory_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def training_comparison(configfile: Path, seeds: int, epochs: int, workdir: Path) -> tuple[float, float]:
    """CPU seconds of training ``seeds`` seeds as one batched group and one seed per group."""
    from infoplane.config import load_config
    from infoplane.training import train_group

    cfg = copy.deepcopy(load_config(configfile))
    cfg["training"]["epochs"] = epochs
    cfg["training"]["checkpoint_every"] = epochs
    group = list(range(seeds))

    def cpu(run) -> float:
        t0 = time.process_time()
        run()
        return time.process_time() - t0

    batched = cpu(lambda: train_group(cfg, group, workdir / "batched", workdir / "batched.csv",
                                      workdir / "work-batched", progress=False))
    alone = cpu(lambda: [train_group(cfg, [s], workdir / f"alone{s}", workdir / f"alone{s}.csv",
                                     workdir / f"work-alone{s}", progress=False) for s in group])
    return batched, alone


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--workdir", type=Path, default=None, help="Where the study runs (default: a temp dir).")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-study", action="store_true", help="Only the training comparison.")
    ap.add_argument("--seeds", type=int, default=10, help="Seeds in the training comparison.")
    ap.add_argument("--epochs", type=int, default=200, help="Epochs in the training comparison.")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="infoplane-pipeline-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.skip_study:
            from infoplane.config import load_config

            study = load_config(args.configfile)["study"]
            wall = run_study(args.configfile, work, args.cores)
            results = work / "results" / study
            table = stage_table(results)
            table["share_of_job_time"] = table["wall_s"] / table["wall_s"].sum()
            print(f"{study}: end to end {wall:.1f} s wall on {args.cores} cores")
            print(table.to_string(float_format=lambda v: f"{v:.3f}"))
            acts = results / "activations"
            if acts.exists():
                print(f"activation stores: {directory_mb(acts):.0f} MB")
        batched, alone = training_comparison(args.configfile, args.seeds, args.epochs, work / "training")
        print(f"training {args.seeds} seeds x {args.epochs} epochs: batched group {batched:.1f} CPU s, "
              f"one seed per group {alone:.1f} CPU s, speed-up {alone / batched:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
