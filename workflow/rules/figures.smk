# Figures read only the MI table and the loss/accuracy table: deleting them and rerunning redoes
# only this rule, never training or estimation.


rule figures:
    input:
        config=CONFIG_FILES["figures"],
        mi=f"{RESULTS}/mi.csv",
        metrics=f"{RESULTS}/metrics.csv",
    output:
        plane=report(
            f"{RESULTS}/figures/information_plane.png",
            caption="../report/information_plane.rst",
            category="Information plane",
        ),
        dynamics=report(
            f"{RESULTS}/figures/dynamics.png",
            caption="../report/dynamics.rst",
            category="Dynamics",
        ),
        mi_vs_epoch=report(
            f"{RESULTS}/figures/mi_vs_epoch.png",
            caption="../report/mi_vs_epoch.rst",
            category="Dynamics",
        ),
        curves=report(
            f"{RESULTS}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
        ),
        pdfs=expand(f"{RESULTS}/figures/{{fig}}.pdf", fig=NETWORK_FIGURES),
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
