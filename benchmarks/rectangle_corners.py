"""Is the rectangles gap of the synthetic-images study lost in compression or in estimation?

Run: ``.venv/bin/python benchmarks/rectangle_corners.py [--config FILE] [--seeds 0 1 2]``
(about a minute on 2 cores). Prints a markdown table and writes it to
``benchmarks/out/rectangle_corners.md``.

For each true MI of the study's grid and each seed it draws the same rectangle latents as the
study (:func:`infoplane.synthetic.uniform_margins`, n and seeds from the study config) and
estimates the MI, with the study's k-NN estimators, between

* ``latent``: the 4-d latents themselves (uniform margins), and
* ``corners``: the exact corners the renderer draws (:func:`~infoplane.synthetic.images.
  ordered_segments` of the latents), i.e. the output of a *perfect* 4-d compressor of the
  rectangle images (the map from corners to images is injective).

When the study's ``synthetic_summary.csv`` exists (``--summary``, default
``results/synthetic_images/synthetic_summary.csv``) the table adds the study's own mean
estimates after the autoencoder and after PCA, so the three can be compared: if the
autoencoder's estimate is as low as the estimate on the exact corners, compression loses
nothing the estimator could see and the remaining error is the estimator's.

All values in nats (the study's grid is in nats); ``rel`` = (estimate - truth) / truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from infoplane.config import estimator_label, estimator_params, load_config
from infoplane.estimators import get_estimator
from infoplane.studies.synthetic_images import LATENT_DIMS
from infoplane.synthetic import uniform_margins
from infoplane.synthetic.images import ordered_segments
from infoplane.units import bits_to_nats, nats_to_bits

ROOT = Path(__file__).resolve().parent.parent


def corner_estimates(spec: dict, seeds: list[int]) -> pd.DataFrame:
    """One row per (true MI, seed, estimator, representation); estimates in nats.

    ``spec`` is the ``synthetic`` section of a validated config; ``representation`` is ``latent`` or
    ``corners``.
    """
    dim = LATENT_DIMS["rectangles"]
    min_length = spec["rectangle_min_pixels"] / spec["image_size"]
    rows = []
    for nats in spec["true_mi_nats"]:
        if nats == 0:
            continue
        for seed in seeds:
            x, y, _ = uniform_margins(spec["n"], dim, nats_to_bits(nats), seed)
            reps = {"latent": (x, y), "corners": (ordered_segments(x, min_length), ordered_segments(y, min_length))}
            for est in spec["estimators"]:
                estimator = get_estimator(est["name"], **estimator_params(est))
                for rep, (a, b) in reps.items():
                    value = bits_to_nats(estimator.estimate(a, b))
                    rows.append(
                        {"true_mi_nats": nats, "seed": seed, "estimator": estimator_label(est), "representation": rep,
                         "estimate": float(value)}
                    )
    return pd.DataFrame(rows)


def study_means(summary_csv: Path) -> pd.DataFrame | None:
    """The study's mean estimates (nats) for rectangles after ``ae`` and ``pca``, or None."""
    if not summary_csv.is_file():
        return None
    s = pd.read_csv(summary_csv)
    s = s[(s["image"] == "rectangles") & s["compression"].isin(["ae", "pca"]) & (s["true_mi_nats"] > 0)].copy()
    s["true_mi_nats"] = np.round(s["true_mi_nats"].astype(float), 9)
    s["estimate"] = bits_to_nats(s["mean"].to_numpy(dtype=float))
    s["representation"] = "study " + s["compression"]
    return s[["true_mi_nats", "estimator", "representation", "estimate"]]


def table(est: pd.DataFrame, study: pd.DataFrame | None) -> pd.DataFrame:
    """Wide table: per (estimator, true MI) the mean estimate and relative error per representation."""
    mean = est.groupby(["estimator", "true_mi_nats", "representation"])["estimate"].mean().reset_index()
    if study is not None:
        mean = pd.concat([mean, study[study["estimator"].isin(mean["estimator"].unique())]], ignore_index=True)
    wide = mean.pivot_table(index=["estimator", "true_mi_nats"], columns="representation", values="estimate")
    order = [c for c in ("latent", "corners", "study ae", "study pca") if c in wide.columns]
    wide = wide[order]
    truth = wide.index.get_level_values("true_mi_nats").to_numpy(dtype=float)
    for col in order:
        wide[f"rel {col}"] = (wide[col].to_numpy() - truth) / truth
    return wide.reset_index()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config/studies/synthetic_images.yaml"))
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the study's seeds")
    ap.add_argument("--summary", default=str(ROOT / "results/synthetic_images/synthetic_summary.csv"))
    args = ap.parse_args(argv)
    spec = load_config(args.config)["synthetic"]
    seeds = args.seeds if args.seeds is not None else spec["seeds"]
    wide = table(corner_estimates(spec, seeds), study_means(Path(args.summary)))
    text = (
        f"Rectangles, n = {spec['n']}, seeds {seeds}, {spec['image_size']}x{spec['image_size']} images; "
        "mean estimates in nats, rel = (estimate - truth) / truth\n\n"
        + wide.to_markdown(index=False, floatfmt=".3f")
        + "\n"
    )
    print(text)
    out = ROOT / "benchmarks/out/rectangle_corners.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
