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
    threads: grid_threads
    resources:
        mem_mb=grid_mem_mb,
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


rule synthetic_grid:
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
        config=CONFIG_FILE,
        hash=config_hash(config, ("synthetic",)),
    shell:
        "infoplane synthetic --config {params.config} --workers {threads} "
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
