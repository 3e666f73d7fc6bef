# One rule per stage of dlrepro.registry, all made by this one loop: the code fingerprints, the
# inputs (DVC's record), data, each family's train@variant (and pretrain), summarize, and the
# report. Snakemake evaluates shell: and the functions in params: when a job runs, after the loop,
# so nothing here reads the loop variable late: every value is computed now or bound through a
# helper's argument.
for stage in STAGES:

    rule:
        name:
            stage.name
        input:
            inputs(stage),
        output:
            outputs(stage),
        params:
            values=tracked(stage),
            code=code_hashes(stage),
            cmd=command(stage),
        wildcard_constraints:
            variant="|".join(map(re.escape, variants(stage.variants))) if stage.variants else ".+",
        threads: THREADS[stage.threads]
        conda:
            CONDA_ENV
        log:
            stage.log,
        shell:
            "{params.cmd}"
