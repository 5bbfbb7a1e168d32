# Figures read only the MI table, the loss/accuracy table and the SGD-diagnostics table: deleting
# them and rerunning redoes only this rule, never training or estimation.


rule figures:
    input:
        config=stage_input("figures"),
        mi=f"{RESULTS}/{{cond}}mi.csv",
        metrics=f"{RESULTS}/{{cond}}metrics.csv",
        sgd=f"{RESULTS}/{{cond}}sgd.csv",
    output:
        pngs=report_figures(NETWORK_FIGURES, "{cond}"),
        pdfs=figure_files(NETWORK_FIGURES, ["pdf"], "{cond}"),
    log:
        f"{RESULTS}/{{cond}}logs/figures/figures.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        outdir=get_figure_dir,
    shell:
        "infoplane figures --config {input.config} --mi {input.mi} --metrics {input.metrics} "
        "--sgd {input.sgd} --outdir {params.outdir} 2> {log}"
