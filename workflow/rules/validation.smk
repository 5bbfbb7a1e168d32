# Studies on distributions with known MI: the estimator-validation grid and synthetic images.


rule validation_grid:
    input:
        config=CONFIG_FILES["validation"],
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
    threads: grid_threads
    resources:
        mem_mb=grid_mem_mb,
        runtime=240,
    shell:
        "infoplane validation --config {input.config} --workers {threads} "
        "--out {output.table} --summary {output.summary} 2> {log}"


rule validation_figure:
    input:
        f"{RESULTS}/validation_summary.csv",
    output:
        png=report_figures(VALIDATION_FIGURES),
        pdf=figure_files(VALIDATION_FIGURES, ["pdf"]),
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


rule synthetic_autoencoder:
    input:
        config=CONFIG_FILES["synthetic_autoencoder"],
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
    shell:
        "infoplane synthetic-autoencoder --config {input.config} --image {wildcards.image} "
        "--seed {wildcards.seed} --out {output} --quiet 2> {log}"


rule synthetic_grid:
    input:
        config=CONFIG_FILES["synthetic"],
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
    threads: grid_threads
    resources:
        mem_mb=grid_mem_mb,
        runtime=240,
    params:
        autoencoders=f"{RESULTS}/autoencoders",
    shell:
        "infoplane synthetic --config {input.config} --workers {threads} "
        "--autoencoders {params.autoencoders} "
        "--out {output.table} --summary {output.summary} 2> {log}"


rule synthetic_figure:
    input:
        table=f"{RESULTS}/synthetic_summary.csv",
        config=CONFIG_FILES["synthetic"],
    output:
        png=report_figures(SYNTHETIC_FIGURES),
        pdf=figure_files(SYNTHETIC_FIGURES, ["pdf"]),
    log:
        f"{RESULTS}/logs/synthetic_figure/figure.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        stem=get_figure_stem,
    shell:
        "infoplane plot-table synthetic --table {input.table} --config {input.config} "
        "--out-stem {params.stem} 2> {log}"
