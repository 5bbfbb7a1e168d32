# Figures read only the MI table and the loss/accuracy table: deleting them and rerunning redoes
# only this rule, never training or estimation.


rule figures:
    input:
        config=CONFIG_FILES["figures"],
        mi=f"{RESULTS}/mi.csv",
        metrics=f"{RESULTS}/metrics.csv",
    output:
        pngs=report_figures(NETWORK_FIGURES),
        pdfs=figure_files(NETWORK_FIGURES, ["pdf"]),
    log:
        f"{RESULTS}/logs/figures/figures.log",
    localrule: True
    conda:
        "../../environment.yml"
    params:
        outdir=get_figure_dir,
    shell:
        "infoplane figures --config {input.config} --mi {input.mi} --metrics {input.metrics} "
        "--outdir {params.outdir} 2> {log}"
