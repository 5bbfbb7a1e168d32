# Optional lossy compression (Butakov et al. 2024), MI estimation with Dask, and the MI and
# geometry tables.
# Every job works on one seed group (see train.smk).


rule fit_x_compressor:
    input:
        config=stage_input("compress"),
        acts=get_first_group_dir,
    output:
        f"{RESULTS}/{{cond}}compressors/x.npz",
    log:
        f"{RESULTS}/{{cond}}logs/fit_x_compressor/x.log",
    benchmark:
        f"{RESULTS}/{{cond}}benchmarks/fit_x_compressor/x.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        store=get_first_store,
    shell:
        "infoplane fit-compressor --config {input.config} --store {params.store} --out {output} 2> {log}"


rule compress:
    input:
        config=stage_input("compress"),
        acts=f"{RESULTS}/{{cond}}activations/{{group}}",
        x_compressor=get_x_compressor,
    output:
        directory(f"{RESULTS}/{{cond}}compressed/{{group}}"),
    log:
        f"{RESULTS}/{{cond}}logs/compress/{{group}}.log",
    benchmark:
        f"{RESULTS}/{{cond}}benchmarks/compress/{{group}}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=get_group_runtime(120),
    params:
        stores=get_activation_stores,
        x_compressor=get_x_compressor_arg,
    shell:
        "infoplane compress --config {input.config} --stores {params.stores} "
        "{params.x_compressor} --outdir {output} 2> {log}"


rule estimate:
    input:
        config=stage_input("estimate"),
        stores=get_estimation_dir,
    output:
        mi=f"{RESULTS}/{{cond}}mi/{{group}}.csv",
        geometry=f"{RESULTS}/{{cond}}geometry/{{group}}.csv",
    log:
        f"{RESULTS}/{{cond}}logs/estimate/{{group}}.log",
    benchmark:
        f"{RESULTS}/{{cond}}benchmarks/estimate/{{group}}.tsv"
    conda:
        "../../environment.yml"
    threads: estimate_threads
    resources:
        mem_mb=estimate_mem_mb,
        runtime=get_group_runtime(240),
    params:
        stores=get_estimation_stores,
    shell:
        "infoplane estimate --config {input.config} --stores {params.stores} "
        "--workers {threads} --out {output.mi} --out-geometry {output.geometry} 2> {log}"


rule collect:
    input:
        config=stage_input("collect"),
        mi=get_mi_tables,
        metrics=get_metric_tables,
        geometry=get_geometry_tables,
        sgd=get_sgd_tables,
    output:
        csv=report(
            f"{RESULTS}/{{cond}}mi.csv",
            caption="../report/mi_table.rst",
            category="Tables",
        ),
        nc=f"{RESULTS}/{{cond}}mi.nc",
        metrics=f"{RESULTS}/{{cond}}metrics.csv",
        summary=report(
            f"{RESULTS}/{{cond}}summary.csv",
            caption="../report/summary_table.rst",
            category="Tables",
        ),
        geometry=f"{RESULTS}/{{cond}}geometry.csv",
        sgd=f"{RESULTS}/{{cond}}sgd.csv",
    log:
        f"{RESULTS}/{{cond}}logs/collect/collect.log",
    localrule: True
    conda:
        "../../environment.yml"
    shell:
        "infoplane collect --config {input.config} --mi {input.mi} --metrics {input.metrics} "
        "--geometry {input.geometry} --sgd {input.sgd} --out-csv {output.csv} --out-nc {output.nc} "
        "--out-metrics {output.metrics} --out-summary {output.summary} --out-geometry {output.geometry} "
        "--out-sgd {output.sgd} 2> {log}"
