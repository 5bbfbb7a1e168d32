# Train one network per seed and dump every layer's activations at the recorded epochs.


rule train:
    output:
        store=directory(f"{RESULTS}/activations/seed{{seed}}.zarr"),
        metrics=f"{RESULTS}/metrics/seed{{seed}}.csv",
    log:
        f"{RESULTS}/logs/train/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/seed{{seed}}.tsv"
    conda:
        "../../environment.yml"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=240,
    params:
        config=CONFIG_FILE,
        # Changing any training-relevant key changes this hash and reruns training.
        hash=TRAIN_HASH,
        # Checkpoints and the partial store live here, outside the outputs, so an interrupted
        # job resumes from its last checkpoint after `--rerun-incomplete`.
        workdir=f"{RESULTS}/work/seed{{seed}}",
    shell:
        "infoplane train --config {params.config} --seed {wildcards.seed} "
        "--store {output.store} --metrics {output.metrics} --workdir {params.workdir} "
        "2> {log}"
