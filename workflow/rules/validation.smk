# Studies on distributions with known MI: the estimator-validation grid and synthetic images.


rule validation_grid:
    output:
        table=report(
            f"{RESULTS}/validation.csv",
            caption="../report/validation_table.rst",
            category="Estimator validation",
        ),
        summary=f"{RESULTS}/validation_summary.csv",
    log:
        f"{RESULTS}/logs/validation_grid/grid.log",
    benchmark:
        f"{RESULTS}/benchmarks/validation_grid/grid.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        config=CONFIG_FILE,
        hash=config_hash(config, ("validation",)),
    shell:
        "infoplane validation --config {params.config} --workers {threads} "
        "--out {output.table} --summary {output.summary} 2> {log}"


rule validation_figure:
    input:
        f"{RESULTS}/validation_summary.csv",
    output:
        png=report(
            f"{RESULTS}/figures/estimator_validation.png",
            caption="../report/estimator_validation.rst",
            category="Estimator validation",
        ),
        pdf=f"{RESULTS}/figures/estimator_validation.pdf",
    log:
        f"{RESULTS}/logs/validation_figure/figure.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        stem=get_figure_stem,
    shell:
        "infoplane plot-table validation --table {input} --out-stem {params.stem} 2> {log}"


# The independent autoencoders the synthetic study reads, one per (image kind, seed): none
# without `ae` in synthetic.compressions or with ae.fit_on = data.
SYNTHETIC = config.get("synthetic", {})
SYNTHETIC_AUTOENCODERS = (
    expand(
        f"{RESULTS}/autoencoders/{{image}}_seed{{seed}}.npz",
        image=SYNTHETIC["images"],
        seed=SYNTHETIC["seeds"],
    )
    if SYNTHETIC
    and "ae" in SYNTHETIC["compressions"]
    and SYNTHETIC["ae"]["fit_on"] == "independent"
    else []
)
# An autoencoder depends on these synthetic keys only.
SYNTHETIC_AE_HASH = config_hash(
    {
        "synthetic": {
            k: SYNTHETIC.get(k)
            for k in ("n", "image_size", "rectangle_min_pixels", "ae")
        }
    },
    ("synthetic",),
)


rule synthetic_autoencoder:
    output:
        f"{RESULTS}/autoencoders/{{image}}_seed{{seed}}.npz",
    log:
        f"{RESULTS}/logs/synthetic_autoencoder/{{image}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthetic_autoencoder/{{image}}_seed{{seed}}.tsv"
    wildcard_constraints:
        image="blobs|rectangles",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        config=CONFIG_FILE,
        hash=SYNTHETIC_AE_HASH,
    shell:
        "infoplane synthetic-autoencoder --config {params.config} --image {wildcards.image} "
        "--seed {wildcards.seed} --out {output} --quiet 2> {log}"


rule synthetic_grid:
    input:
        autoencoders=SYNTHETIC_AUTOENCODERS,
    output:
        table=report(
            f"{RESULTS}/synthetic.csv",
            caption="../report/synthetic_table.rst",
            category="Synthetic images",
        ),
        summary=f"{RESULTS}/synthetic_summary.csv",
    log:
        f"{RESULTS}/logs/synthetic_grid/grid.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthetic_grid/grid.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        config=CONFIG_FILE,
        hash=config_hash(config, ("synthetic",)),
        autoencoders=f"{RESULTS}/autoencoders",
    shell:
        "infoplane synthetic --config {params.config} --workers {threads} "
        "--autoencoders {params.autoencoders} "
        "--out {output.table} --summary {output.summary} 2> {log}"


rule synthetic_figure:
    input:
        f"{RESULTS}/synthetic_summary.csv",
    output:
        png=report(
            f"{RESULTS}/figures/synthetic_images.png",
            caption="../report/synthetic_images.rst",
            category="Synthetic images",
        ),
        pdf=f"{RESULTS}/figures/synthetic_images.pdf",
    log:
        f"{RESULTS}/logs/synthetic_figure/figure.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        stem=get_figure_stem,
        config=CONFIG_FILE,
    shell:
        "infoplane plot-table synthetic --table {input} --config {params.config} "
        "--out-stem {params.stem} 2> {log}"
