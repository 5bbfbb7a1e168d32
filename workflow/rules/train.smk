# Train the networks of one seed group (training.seeds_per_job consecutive seeds, named after
# them, e.g. seeds-0-1) and dump every layer's activations at the recorded epochs, with the
# per-epoch loss/accuracy table and the SGD diagnostics (gradient mean/std norms, weight norms).


rule train:
    input:
        config=stage_input("train"),
    output:
        stores=directory(f"{RESULTS}/{{cond}}activations/{{group}}"),
        metrics=f"{RESULTS}/{{cond}}metrics/{{group}}.csv",
        sgd=f"{RESULTS}/{{cond}}sgd/{{group}}.csv",
    log:
        f"{RESULTS}/{{cond}}logs/train/{{group}}.log",
    benchmark:
        f"{RESULTS}/{{cond}}benchmarks/train/{{group}}.tsv"
    conda:
        "../../environment.yml"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=get_group_runtime(240),
    params:
        seeds=get_group_seeds,
        # Each seed checkpoints in <workdir>/seed<s>/ (outside the outputs), so a killed job
        # resumes from its last checkpoint, and keeps the seeds it finished, on `--rerun-incomplete`.
        workdir=f"{RESULTS}/{{cond}}work/{{group}}",
    shell:
        "infoplane train --config {input.config} --seeds {params.seeds} "
        "--outdir {output.stores} --metrics {output.metrics} --sgd {output.sgd} --workdir {params.workdir} "
        "2> {log}"
