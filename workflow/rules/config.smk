# Stage configs: each stage's jobs read `.config/<stage>-<hash>.yaml`, the config sections that
# stage reads (infoplane.config.STAGE_SECTIONS) with the hash over those sections only. The jobs
# take the file as an input: editing one section writes a new file for exactly the stages that
# read it, and reruns those stages and what follows; other stages keep their file and outputs.


rule stage_config:
    output:
        f"{RESULTS}/.config/{{stage}}-{{hash}}.yaml",
    log:
        f"{RESULTS}/logs/stage_config/{{stage}}-{{hash}}.log",
    localrule: True
    run:
        write_stage_file(wildcards.stage, wildcards.hash, output[0])
