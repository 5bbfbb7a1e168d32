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
    """Train a group of seeds (one batched model for MLPs; see ``training.train_group``)."""
    from infoplane.config import load_config
    from infoplane.training import train_group

    cfg = load_config(args.config)
    train_group(cfg, args.seeds, Path(args.outdir), Path(args.metrics), Path(args.workdir),
                progress=not args.quiet, threads=args.threads, sgd=Path(args.sgd) if args.sgd else None)
    return 0


def cmd_fit_compressor(args: argparse.Namespace) -> int:
    from infoplane.compressed import fit_x_compressor
    from infoplane.config import load_config

    cfg = load_config(args.config)
    fit_x_compressor(cfg, Path(args.store), Path(args.out), progress=not args.quiet)
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    from infoplane.compressed import compress_stores
    from infoplane.config import load_config

    cfg = load_config(args.config)
    compress_stores(cfg, [Path(p) for p in args.stores], Path(args.outdir),
                    Path(args.x_compressor) if args.x_compressor else None, progress=not args.quiet)
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from infoplane.cluster import dask_scheduler
    from infoplane.config import load_config
    from infoplane.estimation import estimate_tables
    from infoplane.provenance import provenance_attrs

    cfg = load_config(args.config)
    scheduler = dask_scheduler(cfg, args.scheduler)
    # Absolute: the workers of a remote scheduler open the stores from their own working directory.
    stores = [str(Path(p).resolve()) for p in args.stores]
    tables = estimate_tables(stores, cfg, workers=args.workers, scheduler=scheduler, progress=not args.quiet)
    seeds = sorted({int(s) for s in tables.mi["seed"]})
    extra = {"binning_run_range": json.dumps(tables.run_ranges)} if tables.run_ranges else {}
    attrs = provenance_attrs(cfg, seeds[0] if len(seeds) == 1 else None, seeds=json.dumps(seeds),
                             source=json.dumps([str(p) for p in args.stores]), **extra)
    _write_csv(tables.mi, args.out, attrs)
    if args.out_geometry:
        _write_csv(tables.geometry, args.out_geometry, attrs)
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from infoplane.collect import collect_study
    from infoplane.config import load_config
    from infoplane.provenance import provenance_attrs

    cfg = load_config(args.config)
    attrs = provenance_attrs(cfg, seeds=json.dumps(cfg["seeds"]))
    collect_study(args.mi, args.out_csv, args.out_nc, attrs, args.metrics, args.out_metrics,
                  out_summary=args.out_summary, geometry_paths=args.geometry or (), out_geometry=args.out_geometry,
                  sgd_paths=args.sgd, out_sgd=args.out_sgd)
    return 0


def _add_table_outputs(sp: argparse.ArgumentParser, metrics_required: bool) -> None:
    """The output flags of the collect commands: --out-csv, --out-nc, --out-metrics, --out-summary,
    --out-geometry."""
    sp.add_argument("--out-csv", required=True)
    sp.add_argument("--out-nc", required=True)
    sp.add_argument("--out-metrics", required=metrics_required, default=None)
    sp.add_argument("--out-summary", default=None,
                    help="Also write the MI table's summary here (peak, final and late drop of I(X;T) "
                         "per layer; infoplane.summary.mi_summary).")
    sp.add_argument("--out-geometry", default=None, help="Output geometry table (needs --geometry).")
    sp.add_argument("--out-sgd", default=None, help="The merged SGD-diagnostics table (sgd.csv), with --sgd.")


def cmd_collect_sweep(args: argparse.Namespace) -> int:
    from infoplane.collect import collect_sweep
    from infoplane.config import load_config
    from infoplane.provenance import provenance_attrs

    cfg = load_config(args.config)
    collect_sweep(cfg, args.conditions, args.mi, args.metrics, args.out_csv, args.out_nc, args.out_metrics,
                  provenance_attrs(cfg), out_summary=args.out_summary, geometry_paths=args.geometry or (),
                  out_geometry=args.out_geometry, sgd_paths=args.sgd, out_sgd=args.out_sgd)
    return 0


def cmd_sweep_figure(args: argparse.Namespace) -> int:
    from infoplane.config import load_config
    from infoplane.plots import comparison_figures, sweep_information_plane
    from infoplane.plots.data import figure_split, load_table

    cfg = load_config(args.config)
    mi = load_table(args.mi, ["split"], "sweep MI table", dtype={"layer": str, "split": str, "condition": str})
    split = figure_split(mi, cfg.get("analysis", {}).get("split"))
    sweep_information_plane(mi, args.out, title=f"Information plane per condition: {cfg['study']}", split=split)
    if args.also:
        comparison_figures(args.also, Path(args.out).parent, args.mi, args.summary, title=str(cfg["study"]))
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from infoplane.config import load_config
    from infoplane.plots import comparison_figures, network_figures

    cfg = load_config(args.config)
    network_figures(args.mi, args.metrics, args.outdir, cfg, sgd=args.sgd)
    if args.also:
        comparison_figures(args.also, args.outdir, args.mi, args.summary, args.geometry, title=str(cfg["study"]))
    return 0


def _add_comparison_flags(sp: argparse.ArgumentParser, geometry: bool) -> None:
    """--also (comparison figures to draw as well) and the tables they read."""
    from infoplane.plots.names import COMPARISON_FIGURES

    sp.add_argument("--also", nargs="*", default=[], choices=COMPARISON_FIGURES, metavar="FIGURE",
                    help=f"Also draw these comparison figures ({', '.join(COMPARISON_FIGURES)}).")
    sp.add_argument("--summary", default=None, help="The study's summary.csv (needed by late_drop).")
    if geometry:
        sp.add_argument("--geometry", default=None, help="The study's geometry.csv (needed by clustering).")


def cmd_validation(args: argparse.Namespace) -> int:
    from infoplane.cluster import dask_scheduler
    from infoplane.config import load_config
    from infoplane.parallel import dask_client
    from infoplane.provenance import provenance_attrs
    from infoplane.studies.validation import bias_table, run_validation

    cfg = load_config(args.config)
    with dask_client(args.workers, dask_scheduler(cfg, args.scheduler)) as client:
        df = run_validation(cfg["validation"], client=client, progress=not args.quiet)
    attrs = provenance_attrs(cfg)
    _write_csv(df, args.out, attrs)
    _write_csv(bias_table(df), args.summary, attrs)
    return 0


def cmd_synthetic_autoencoder(args: argparse.Namespace) -> int:
    from infoplane.atomic import atomic_path
    from infoplane.config import load_config
    from infoplane.studies.synthetic_images import fit_autoencoder

    cfg = load_config(args.config)
    spec = cfg["synthetic"]
    if args.image not in spec["images"] or args.seed not in spec["seeds"]:
        raise ValueError(f"{args.config}: ({args.image!r}, seed {args.seed}) is not in synthetic.images x "
                         f"synthetic.seeds ({', '.join(spec['images'])} x {spec['seeds']})")
    ae = fit_autoencoder(spec, args.image, args.seed, progress=not args.quiet)
    with atomic_path(args.out) as tmp:
        ae.save(tmp)
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    from infoplane.cluster import dask_scheduler
    from infoplane.config import load_config
    from infoplane.parallel import dask_client
    from infoplane.provenance import provenance_attrs
    from infoplane.studies.synthetic_images import (
        run_synthetic_images,
        summarize_synthetic,
    )

    cfg = load_config(args.config)
    with dask_client(args.workers, dask_scheduler(cfg, args.scheduler)) as client:
        df = run_synthetic_images(cfg["synthetic"], autoencoder_dir=args.autoencoders, client=client,
                                  progress=not args.quiet)
    attrs = provenance_attrs(cfg)
    _write_csv(df, args.out, attrs)
    _write_csv(summarize_synthetic(df), args.summary, attrs)
    return 0


def cmd_plot_table(args: argparse.Namespace) -> int:
    from infoplane import plots

    if args.kind == "validation":
        plots.estimator_validation(args.table, Path(args.out_stem))
        return 0
    order = None
    if args.config:
        from infoplane.config import estimator_label, load_config

        order = [estimator_label(e) for e in load_config(args.config)["synthetic"]["estimators"]]
    plots.synthetic_images(args.table, Path(args.out_stem), estimators=order)
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
    sp.add_argument("--seeds", type=int, nargs="+", required=True, help="Seeds trained together.")
    sp.add_argument("--outdir", required=True, help="Output directory; gets seed<s>.zarr (activation store) per seed.")
    sp.add_argument("--metrics", required=True, help="Output per-epoch loss/accuracy CSV of all the seeds.")
    sp.add_argument("--workdir", required=True, help="Checkpoints and partial stores (kept for resuming).")
    sp.add_argument("--sgd", default=None,
                    help="Output SGD-diagnostics CSV of all the seeds (infoplane.tables.SGD_COLUMNS).")
    sp.add_argument("--threads", type=int, default=None, help="torch threads (default: training.threads).")
    sp.add_argument("--quiet", action="store_true")

    sp = add("fit-compressor", cmd_fit_compressor, "Fit the input (X) compressor of a study once.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--store", required=True, help="An activation store whose `inputs` are the evaluation inputs.")
    sp.add_argument("--out", required=True)
    sp.add_argument("--quiet", action="store_true")

    sp = add("compress", cmd_compress, "Compress X and every layer of activation stores (Butakov et al. 2024).")
    sp.add_argument("--config", required=True)
    sp.add_argument("--stores", nargs="+", required=True)
    sp.add_argument("--x-compressor", default=None)
    sp.add_argument("--outdir", required=True,
                    help="Output directory; gets one compressed store per store (same name).")
    sp.add_argument("--quiet", action="store_true")

    sp = add("estimate", cmd_estimate, "Estimate I(X;T) and I(T;Y) for every layer and epoch of the given stores.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--stores", nargs="+", required=True,
                    help="Activation or compressed stores (.zarr); each store's seed is in its attrs.")
    sp.add_argument("--out", required=True, help="Output MI table of all the stores (CSV, bits).")
    sp.add_argument("--out-geometry", default=None,
                    help="Output geometry table of all the stores (CSV: activation range, class clustering).")
    sp.add_argument("--workers", type=int, default=1, help="Local Dask worker processes (1 = serial).")
    sp.add_argument("--scheduler", default=None,
                    help="Dask scheduler address (default: $INFOPLANE_DASK_SCHEDULER, "
                         "then the config's dask.scheduler).")
    sp.add_argument("--quiet", action="store_true")

    sp = add("collect", cmd_collect, "Merge per-group MI tables into mi.csv + mi.nc (and metrics, geometry).")
    sp.add_argument("--config", required=True)
    sp.add_argument("--mi", nargs="+", required=True)
    sp.add_argument("--metrics", nargs="*", default=[])
    sp.add_argument("--geometry", nargs="*", default=[], help="Per-group geometry tables.")
    sp.add_argument("--sgd", nargs="*", default=[], help="Per-group SGD-diagnostics tables (sgd/<group>.csv).")
    _add_table_outputs(sp, metrics_required=False)

    sp = add("figures", cmd_figures,
             "Draw a network study's figures (infoplane.plots.NETWORK_FIGURES, PNG and PDF) from its tables.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--mi", required=True, help="The study's MI table (mi.csv).")
    sp.add_argument("--metrics", required=True, help="The study's loss/accuracy table (metrics.csv).")
    sp.add_argument("--sgd", default=None,
                    help="The study's SGD-diagnostics table (sgd.csv); required for the sgd_phases figure.")
    sp.add_argument("--outdir", required=True)
    _add_comparison_flags(sp, geometry=True)

    sp = add("collect-sweep", cmd_collect_sweep,
             "Stack a sweep's per-condition tables into the study's mi.csv, mi.nc and metrics.csv.")
    sp.add_argument("--config", required=True, help="The sweep stage config (sections study, sweep).")
    sp.add_argument("--conditions", nargs="+", required=True, help="Condition names, one per --mi/--metrics table.")
    sp.add_argument("--mi", nargs="+", required=True, help="Each condition's mi.csv, in --conditions order.")
    sp.add_argument("--metrics", nargs="+", required=True, help="Each condition's metrics.csv, in --conditions order.")
    sp.add_argument("--geometry", nargs="*", default=[], help="Each condition's geometry.csv, in --conditions order.")
    sp.add_argument("--sgd", nargs="*", default=[], help="Each condition's sgd.csv, in --conditions order.")
    _add_table_outputs(sp, metrics_required=True)

    sp = add("sweep-figure", cmd_sweep_figure,
             "Draw a sweep's information planes (one panel per condition) from the study's mi.csv.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--mi", required=True, help="The sweep study's MI table (with a condition column).")
    sp.add_argument("--out", required=True, help="Output path without suffix (.png and .pdf are written); "
                                                 "the --also figures go beside it.")
    _add_comparison_flags(sp, geometry=False)

    for name, func, help_ in (
        ("validation", cmd_validation, "Run the estimator-validation grid (distributions with known MI)."),
        ("synthetic", cmd_synthetic, "Run the synthetic-images study (MI between images of latents)."),
    ):
        sp = add(name, func, help_)
        sp.add_argument("--config", required=True)
        sp.add_argument("--out", required=True, help="Output results table (CSV, bits).")
        sp.add_argument("--summary", required=True, help="Output summary table (CSV, bits).")
        sp.add_argument("--workers", type=int, default=1, help="Local Dask worker processes (1 = serial).")
        sp.add_argument("--scheduler", default=None,
                        help="Dask scheduler address (default: $INFOPLANE_DASK_SCHEDULER, "
                             "then the config's dask.scheduler).")
        sp.add_argument("--quiet", action="store_true")
        if name == "synthetic":
            sp.add_argument("--autoencoders", default=None,
                            help="Directory of the independent autoencoders <image>_seed<s>.npz "
                                 "(needed when compressions has ae and ae.fit_on is independent).")

    sp = add("synthetic-autoencoder", cmd_synthetic_autoencoder,
             "Fit the independent autoencoder of one (image kind, seed) of the synthetic-images study.")
    sp.add_argument("--config", required=True)
    sp.add_argument("--image", required=True, help="An image kind of synthetic.images.")
    sp.add_argument("--seed", type=int, required=True)
    sp.add_argument("--out", required=True, help="Output compressor file (.npz).")
    sp.add_argument("--quiet", action="store_true")

    sp = add("plot-table", cmd_plot_table,
             "Draw the figure of a validation or synthetic-images study from its summary table.")
    sp.add_argument("kind", choices=["validation", "synthetic"])
    sp.add_argument("--table", required=True,
                    help="The study's summary table (validation_summary.csv or synthetic_summary.csv).")
    sp.add_argument("--out-stem", required=True, help="Output path without suffix (.png and .pdf are written).")
    sp.add_argument("--config", default=None,
                    help="synthetic: draw the estimators in the order of the config's synthetic.estimators.")

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
