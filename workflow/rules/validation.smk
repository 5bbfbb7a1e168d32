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
        f"{RESULTS}/validation.csv",
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


def synthetic_ae_hash():
    """Hash of the synthetic keys an independent autoencoder depends on."""
    spec = config["synthetic"]
    keys = ("n", "image_size", "rectangle_min_pixels", "ae")
    return config_hash({"synthetic": {k: spec[k] for k in keys}}, ("synthetic",))


def get_synthetic_autoencoders(wildcards):
    """The independent autoencoders the synthetic study reads (none without `ae` or with
    ae.fit_on = data)."""
    spec = config["synthetic"]
    if "ae" not in spec["compressions"] or spec["ae"]["fit_on"] != "independent":
        return []
    return expand(
        f"{RESULTS}/autoencoders/{{image}}_seed{{seed}}.npz",
        image=spec["images"],
        seed=spec["seeds"],
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
        hash=synthetic_ae_hash(),
    shell:
        "infoplane synthetic-autoencoder --config {params.config} --image {wildcards.image} "
        "--seed {wildcards.seed} --out {output} --quiet 2> {log}"


rule synthetic_grid:
    input:
        autoencoders=get_synthetic_autoencoders,
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
        f"{RESULTS}/synthetic.csv",
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
    shell:
        "infoplane plot-table synthetic --table {input} --out-stem {params.stem} 2> {log}"
