# Optional lossy compression (Butakov et al. 2024), MI estimation with Dask, and the MI table.


rule fit_x_compressor:
    input:
        get_first_store,
    output:
        f"{RESULTS}/compressors/x.npz",
    log:
        f"{RESULTS}/logs/fit_x_compressor/x.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit_x_compressor/x.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        config=CONFIG_FILE,
        hash=ESTIMATION_HASH,
    shell:
        "infoplane fit-compressor --config {params.config} --store {input} --out {output} 2> {log}"


rule compress:
    input:
        store=f"{RESULTS}/activations/seed{{seed}}.zarr",
        x_compressor=get_x_compressor,
    output:
        directory(f"{RESULTS}/compressed/seed{{seed}}.zarr"),
    log:
        f"{RESULTS}/logs/compress/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/compress/seed{{seed}}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        config=CONFIG_FILE,
        hash=ESTIMATION_HASH,
        x_compressor=get_x_compressor_arg,
    shell:
        "infoplane compress --config {params.config} --store {input.store} "
        "{params.x_compressor} --out {output} 2> {log}"


rule estimate:
    input:
        get_estimation_store,
    output:
        f"{RESULTS}/mi/seed{{seed}}.csv",
    log:
        f"{RESULTS}/logs/estimate/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/estimate/seed{{seed}}.tsv"
    conda:
        "../../environment.yml"
    threads: estimate_threads
    resources:
        mem_mb=estimate_mem_mb,
        runtime=240,
    params:
        config=CONFIG_FILE,
        hash=ESTIMATION_HASH,
    shell:
        "infoplane estimate --config {params.config} --store {input} --seed {wildcards.seed} "
        "--workers {threads} --out {output} 2> {log}"


rule collect:
    input:
        mi=get_mi_tables,
        metrics=get_metric_tables,
    output:
        csv=report(
            f"{RESULTS}/mi.csv",
            caption="../report/mi_table.rst",
            category="Tables",
        ),
        nc=f"{RESULTS}/mi.nc",
        metrics=f"{RESULTS}/metrics.csv",
    log:
        f"{RESULTS}/logs/collect/collect.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        config=CONFIG_FILE,
    shell:
        "infoplane collect --config {params.config} --mi {input.mi} --metrics {input.metrics} "
        "--out-csv {output.csv} --out-nc {output.nc} --out-metrics {output.metrics} 2> {log}"
