# Figures read only the MI table, its summary, the loss/accuracy table and the SGD-diagnostics
# table (and, with analysis.clustering, the geometry table): deleting them and rerunning redoes
# only this rule, never training or estimation. Which comparison figures it draws follows from the
# config (comparison_figures in common.smk).


rule figures:
    input:
        config=stage_input("figures"),
        mi=f"{RESULTS}/{{cond}}mi.csv",
        metrics=f"{RESULTS}/{{cond}}metrics.csv",
        summary=f"{RESULTS}/{{cond}}summary.csv",
        geometry=get_geometry_table,
        sgd=f"{RESULTS}/{{cond}}sgd.csv",
    output:
        pngs=report_figures(CONDITION_FIGURES, "{cond}"),
        pdfs=figure_files(CONDITION_FIGURES, ["pdf"], "{cond}"),
    log:
        f"{RESULTS}/{{cond}}logs/figures/figures.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        outdir=get_figure_dir,
        also=get_comparison_arg("condition"),
        geometry=get_geometry_arg,
    shell:
        "infoplane figures --config {input.config} --mi {input.mi} --metrics {input.metrics} "
        "--summary {input.summary} {params.geometry} {params.also} --sgd {input.sgd} "
        "--outdir {params.outdir} 2> {log}"
