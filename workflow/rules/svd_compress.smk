SVD_COMPRESS_CODE = code(
    "experiments/svd_compress.py",
    "models/compressed.py",
    "models/lowrank.py",
    "models/mlp.py",
    "train/engine.py",
)
SVD_COMPRESS_BASELINE = {
    "data": "data/mnist",
    "runs": "results/mnist_mlp/default/runs",
    "metrics": "results/mnist_mlp/default/metrics.json",
}


rule svd_compress:
    input:
        **SVD_COMPRESS_BASELINE,
        code=SVD_COMPRESS_CODE,
    output:
        directory("results/svd_compress/{variant}"),
    params:
        values=lambda w: tracked(
            "profile",
            "runtime",
            "svd_compress.method",
            "svd_compress.finetune",
            "svd_compress.loop",
            f"svd_compress.variants.{w.variant}",
            "svd_compress.profiles",
        ),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(variants("svd_compress")),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/svd_compress/{variant}.log",
    shell:
        "dlrepro compress svd-compress --variant {wildcards.variant} --params params.yaml --profile {params.profile}"
        " --data {input.data} --baseline-runs {input.runs} --baseline-metrics {input.metrics}"
        " --out {output} --log {log}"


rule summarize_svd_compress:
    input:
        variants=expand("results/svd_compress/{variant}", variant=variants("svd_compress")),
        runs=SVD_COMPRESS_BASELINE["runs"],
        metrics=SVD_COMPRESS_BASELINE["metrics"],
        code=code("experiments/svd_compress.py", "report/compression.py"),
    output:
        directory("results/svd_compress/summary"),
    params:
        values=tracked("profile", "runtime", "svd_compress.claim", "svd_compress.profiles"),
        profile=config["profile"],
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/summarize_svd_compress.log",
    shell:
        "dlrepro summarize-compression svd-compress --params params.yaml --profile {params.profile} --variants results/svd_compress"
        " --baseline-runs {input.runs} --baseline-metrics {input.metrics} --out {output} --log {log}"
