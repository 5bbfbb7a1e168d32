# A sweep (config key `sweep`): every condition runs the rules above under
# results/<study>/<condition>/; these two jobs stack the conditions' tables into the study's
# mi.csv, mi.nc, metrics.csv, summary.csv, geometry.csv and sgd.csv (columns `condition` and one
# per swept key) and draw the figures that compare conditions (one information plane per
# condition, the grid of conditions x estimators, the late drop of I(X;T)). A study without a
# sweep has neither job.

if SWEEP:

    rule collect_sweep:
        input:
            config=CONFIG_FILES["sweep"],
            mi=get_condition_tables("mi.csv"),
            metrics=get_condition_tables("metrics.csv"),
            geometry=get_condition_tables("geometry.csv"),
            sgd=get_condition_tables("sgd.csv"),
        output:
            csv=report(
                f"{RESULTS}/mi.csv",
                caption="../report/mi_table.rst",
                category="Tables",
            ),
            nc=f"{RESULTS}/mi.nc",
            metrics=f"{RESULTS}/metrics.csv",
            summary=report(
                f"{RESULTS}/summary.csv",
                caption="../report/summary_table.rst",
                category="Tables",
            ),
            geometry=f"{RESULTS}/geometry.csv",
            sgd=f"{RESULTS}/sgd.csv",
        log:
            f"{RESULTS}/logs/collect_sweep/collect_sweep.log",
        localrule: True
        conda:
            "../../environment.yml"
        params:
            conditions=get_condition_names,
        shell:
            "infoplane collect-sweep --config {input.config} --conditions {params.conditions} "
            "--mi {input.mi} --metrics {input.metrics} --geometry {input.geometry} --sgd {input.sgd} "
            "--out-csv {output.csv} --out-nc {output.nc} --out-metrics {output.metrics} "
            "--out-summary {output.summary} --out-geometry {output.geometry} --out-sgd {output.sgd} 2> {log}"

    rule sweep_figure:
        input:
            config=CONFIG_FILES["sweep"],
            mi=f"{RESULTS}/mi.csv",
            summary=f"{RESULTS}/summary.csv",
        output:
            png=report_figures(SWEEP_STUDY_FIGURES),
            pdf=figure_files(SWEEP_STUDY_FIGURES, ["pdf"]),
        log:
            f"{RESULTS}/logs/sweep_figure/sweep_figure.log",
        localrule: True
        conda:
            "../../environment.yml"
        params:
            stem=get_figure_stem,
            also=get_comparison_arg("sweep"),
        shell:
            "infoplane sweep-figure --config {input.config} --mi {input.mi} "
            "--summary {input.summary} {params.also} --out {params.stem} 2> {log}"
