"""Command-line entry points: the stages the Snakemake rules call, and user-facing commands.

``infoplane <command> --help`` documents each. This module is the only room that turns paths
and arguments into calls; each command is a thin wrapper around one package function. Errors in
user input (config, data, stores) end the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _write_csv(df, path: str | Path, attrs: dict[str, Any] | None = None) -> None:
    """Write a table atomically (tmp file + rename) with a provenance sidecar."""
    from infoplane.provenance import write_sidecar

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    if attrs is not None:
        write_sidecar(path, attrs)
    os.replace(tmp, path)


def cmd_check_config(args: argparse.Namespace) -> int:
    from infoplane.config import config_hash, load_config

    cfg = load_config(args.config)
    print(f"{args.config}: ok (study {cfg['study']!r}, training hash {config_hash(cfg)})")
    if args.resolved:
        import yaml

        Path(args.resolved).parent.mkdir(parents=True, exist_ok=True)
        Path(args.resolved).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from infoplane.config import load_config
    from infoplane.training import train_group, train_run

    cfg = load_config(args.config)
    if args.seeds is not None:
        if args.outdir is None or args.store is not None or args.seed is not None:
            raise ValueError("train: --seeds goes with --outdir (not --seed/--store)")
        train_group(cfg, args.seeds, Path(args.outdir), Path(args.metrics), Path(args.workdir),
                    progress=not args.quiet, threads=args.threads)
        return 0
    if args.seed is None or args.store is None:
        raise ValueError("train: give --seeds S [S ...] --outdir DIR (or the one-seed form --seed S --store STORE)")
    train_run(cfg, args.seed, Path(args.store), Path(args.metrics), Path(args.workdir), progress=not args.quiet,
              threads=args.threads)
    return 0


def cmd_fit_compressor(args: argparse.Namespace) -> int:
    from infoplane.compressed import fit_x_compressor
    from infoplane.config import load_config

    cfg = load_config(args.config)
    fit_x_compressor(cfg, Path(args.store), Path(args.out), progress=not args.quiet)
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    from infoplane.compressed import compress_store
    from infoplane.config import load_config

    cfg = load_config(args.config)
    compress_store(cfg, Path(args.store), Path(args.out), Path(args.x_compressor) if args.x_compressor else None,
                   progress=not args.quiet)
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from infoplane.analysis import estimate_store
    from infoplane.config import load_config
    from infoplane.provenance import provenance_attrs

    cfg = load_config(args.config)
    scheduler = args.scheduler or os.environ.get("INFOPLANE_DASK_SCHEDULER") or None
    df = estimate_store(args.store, cfg, args.seed, workers=args.workers, scheduler=scheduler, progress=not args.quiet)
    _write_csv(df, args.out, provenance_attrs(cfg, args.seed, source=str(args.store)))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    import pandas as pd

    from infoplane.analysis import collect_tables, to_dataset
    from infoplane.config import load_config
    from infoplane.provenance import provenance_attrs

    cfg = load_config(args.config)
    attrs = provenance_attrs(cfg, seeds=json.dumps(cfg["seeds"]))
    df = collect_tables(args.mi)
    _write_csv(df, args.out_csv, attrs)
    ds = to_dataset(df, {k: str(v) for k, v in attrs.items()})
    tmp = Path(args.out_nc).with_suffix(".nc.tmp")
    ds.to_netcdf(tmp, engine="h5netcdf")
    os.replace(tmp, args.out_nc)
    if args.metrics:
        metrics = pd.concat([pd.read_csv(p) for p in args.metrics], ignore_index=True)
        metrics = metrics.sort_values(["seed", "epoch"], kind="stable")
        _write_csv(metrics, args.out_metrics, attrs)
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    import pandas as pd

    from infoplane import plots
    from infoplane.config import estimator_label, load_config

    cfg = load_config(args.config)
    mi = pd.read_csv(args.mi, dtype={"layer": str}, keep_default_na=True)
    mi["reason"] = mi["reason"].fillna("")
    metrics = pd.read_csv(args.metrics)
    smoothing = cfg["figures"]["smoothing"]
    smooth = {"window": smoothing["window"], "polyorder": smoothing["polyorder"]} if smoothing["enabled"] else None
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    title = cfg["study"]
    # Panels in the config's estimator order: its first is the study's primary estimator.
    order = [estimator_label(e) for e in cfg["estimators"]]
    order = [e for e in order if e in set(mi["estimator"])] or None
    plots.information_plane(mi, out / "information_plane", estimator=order, title=title, smoothing=smooth)
    plots.mi_vs_epoch(mi, out / "mi_vs_epoch", estimator=order, title=title, smoothing=smooth)
    plots.training_curves(metrics, out / "training_curves", title=title)
    # The dynamics panel shows one estimator: the first one of the config.
    primary = estimator_label(cfg["estimators"][0])
    plots.dynamics_panel(mi, metrics, out / "dynamics", estimator=primary, title=title, smoothing=smooth)
    return 0


def cmd_validation(args: argparse.Namespace) -> int:
    from infoplane.config import load_config
    from infoplane.provenance import provenance_attrs
    from infoplane.validation import bias_table, run_validation

    cfg = load_config(args.config)
    client = None
    if args.workers > 1 or args.scheduler:
        from infoplane.analysis import local_client

        client = local_client(args.workers, args.scheduler)
    try:
        df = run_validation(cfg["validation"], client=client)
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    attrs = provenance_attrs(cfg)
    _write_csv(df, args.out, attrs)
    _write_csv(bias_table(df), args.summary, attrs)
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    from infoplane.config import load_config
    from infoplane.provenance import provenance_attrs
    from infoplane.synthetic_images import run_synthetic_images, summarize_synthetic

    cfg = load_config(args.config)
    client = None
    if args.workers > 1 or args.scheduler:
        from infoplane.analysis import local_client

        client = local_client(args.workers, args.scheduler)
    try:
        df = run_synthetic_images(cfg["synthetic"], progress=not args.quiet, client=client)
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    attrs = provenance_attrs(cfg)
    _write_csv(df, args.out, attrs)
    _write_csv(summarize_synthetic(df), args.summary, attrs)
    return 0


def cmd_plot_table(args: argparse.Namespace) -> int:
    import pandas as pd

    from infoplane import plots

    table = pd.read_csv(args.table)
    kind = {"validation": plots.estimator_validation, "synthetic": plots.synthetic_images}[args.kind]
    kind(table, Path(args.out_stem))
    return 0


def cmd_provenance(args: argparse.Namespace) -> int:
    from infoplane.provenance import read_provenance

    attrs = read_provenance(args.artifact)
    width = max((len(k) for k in attrs), default=0)
    for key in sorted(attrs):
        print(f"{key:<{width}}  {attrs[key]}")
    return 0


def cmd_config_docs(args: argparse.Namespace) -> int:
    from infoplane.config import schema_markdown

    print(schema_markdown(), end="")
    return 0


def cmd_estimators(args: argparse.Namespace) -> int:
    from infoplane.estimators import available, get_estimator

    for name in available():
        est = get_estimator(name)
        params = ", ".join(f"{k}={v!r}" for k, v in est.params.items())
        print(f"{name:<18} {params}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``infoplane`` command."""
    p = argparse.ArgumentParser(prog="infoplane", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    sp = add("check-config", cmd_check_config, "Validate a study config; print one line per problem.")
    sp.add_argument("config")
    sp.add_argument("--resolved", help="Also write the config with every default filled in here.")

    sp = add("train", cmd_train, "Train a group of seeds (one batched model for MLPs) and dump their activations.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--seeds", type=int, nargs="+", default=None, help="Seeds trained together.")
    sp.add_argument("--outdir", default=None, help="Gets seed<s>.zarr (activation store) per seed.")
    sp.add_argument("--metrics", required=True, help="Output per-epoch loss/accuracy CSV of all the seeds.")
    sp.add_argument("--workdir", required=True, help="Checkpoints and partial stores (kept for resuming).")
    sp.add_argument("--threads", type=int, default=None, help="torch threads (default: training.threads).")
    sp.add_argument("--seed", type=int, default=None, help="One-seed form (with --store), kept for old rules.")
    sp.add_argument("--store", default=None, help="One-seed form: the output activation store (.zarr).")
    sp.add_argument("--quiet", action="store_true")

    sp = add("fit-compressor", cmd_fit_compressor, "Fit the input (X) compressor of a study once.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--store", required=True, help="An activation store whose `inputs` are the evaluation inputs.")
    sp.add_argument("--out", required=True)
    sp.add_argument("--quiet", action="store_true")

    sp = add("compress", cmd_compress, "Compress X and every layer of an activation store (Butakov et al. 2024).")
    sp.add_argument("--config", required=True)
    sp.add_argument("--store", required=True)
    sp.add_argument("--x-compressor", default=None)
    sp.add_argument("--out", required=True)
    sp.add_argument("--quiet", action="store_true")

    sp = add("estimate", cmd_estimate, "Estimate I(X;T) and I(T;Y) for every layer and epoch of a store.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--store", required=True)
    sp.add_argument("--seed", type=int, required=True)
    sp.add_argument("--out", required=True, help="Output MI table (CSV, bits).")
    sp.add_argument("--workers", type=int, default=1, help="Local Dask worker processes (1 = serial).")
    sp.add_argument("--scheduler", default=None, help="Dask scheduler address (default: $INFOPLANE_DASK_SCHEDULER).")
    sp.add_argument("--quiet", action="store_true")

    sp = add("collect", cmd_collect, "Merge per-seed MI tables into mi.csv + mi.nc (and metrics).")
    sp.add_argument("--config", required=True)
    sp.add_argument("--mi", nargs="+", required=True)
    sp.add_argument("--metrics", nargs="*", default=[])
    sp.add_argument("--out-csv", required=True)
    sp.add_argument("--out-nc", required=True)
    sp.add_argument("--out-metrics", default=None)

    sp = add("figures", cmd_figures, "Draw the information plane and dynamics figures from the MI table.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--mi", required=True)
    sp.add_argument("--metrics", required=True)
    sp.add_argument("--outdir", required=True)

    for name, func, help_ in (
        ("validation", cmd_validation, "Run the estimator-validation grid (distributions with known MI)."),
        ("synthetic", cmd_synthetic, "Run the synthetic-images study (MI between images of latents)."),
    ):
        sp = add(name, func, help_)
        sp.add_argument("--config", required=True)
        sp.add_argument("--out", required=True)
        sp.add_argument("--summary", required=True)
        sp.add_argument("--workers", type=int, default=1)
        sp.add_argument("--scheduler", default=os.environ.get("INFOPLANE_DASK_SCHEDULER"))
        sp.add_argument("--quiet", action="store_true")

    sp = add("plot-table", cmd_plot_table, "Draw the figure of a validation or synthetic table.")
    sp.add_argument("kind", choices=["validation", "synthetic"])
    sp.add_argument("--table", required=True)
    sp.add_argument("--out-stem", required=True)

    sp = add("provenance", cmd_provenance, "Print what made an artifact (config hash, seed, versions).")
    sp.add_argument("artifact")

    add("config-docs", cmd_config_docs, "Print the documentation of every config key (config/README.md).")
    add("estimators", cmd_estimators, "List the available MI estimators and their default parameters.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``infoplane`` command; returns the exit status."""
    import logging

    args = build_parser().parse_args(argv)
    # Job logs (stderr) get the package's progress messages, e.g. "resuming from the checkpoint".
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    for noisy in ("distributed", "numba", "matplotlib", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        if os.environ.get("INFOPLANE_DEBUG"):
            raise
        print(f"infoplane {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
