rule report:
    input:
        expand(
            "results/mnist_mlp/{variant}/{output}",
            variant=variants("mnist_mlp"),
            output=["runs", "provenance.json", "metrics.json"],
        ),
        "results/mnist_mlp/analysis",
        "results/svd_compress/summary",
        "reports/reference.csv",
        "reports/templates/index.ipynb",
        "reports/templates/mnist_mlp.ipynb",
        "reports/templates/svd_compress.ipynb",
        "results/mlp_ablation/summary",
        expand("results/mlp_ablation/{variant}/metrics.json", variant=variants("mlp_ablation")),
        expand(
            "results/mnist_linear/{variant}/{output}",
            variant=variants("mnist_linear"),
            output=["runs", "provenance.json", "metrics.json"],
        ),
        "results/layer_probes/default",
        expand(
            "results/training_diagnosis/{variant}/{output}",
            variant=variants("training_diagnosis"),
            output=["runs", "provenance.json", "metrics.json"],
        ),
        expand(
            "results/input_order/{variant}/{output}",
            variant=variants("input_order"),
            output=["runs", "provenance.json", "metrics.json"],
        ),
        "reports/templates/mlp_ablation.ipynb",
        "reports/templates/mnist_linear.ipynb",
        "reports/templates/layer_probes.ipynb",
        "reports/templates/training_diagnosis.ipynb",
        code("report/render.py", "report/reference.py"),
        IMAGE_REPORT_INPUTS,
        SPEECH_REPORT_INPUTS,
    output:
        directory("reports/html"),
    params:
        values=tracked("profile", "report"),
        profile=config["profile"],
    threads: REPORT_WORKERS
    conda:
        CONDA_ENV
    log:
        "logs/report.log",
    shell:
        "dlrepro report --params params.yaml --profile {params.profile} --results results"
        " --reference reports/reference.csv --templates reports/templates --out {output} --log {log}"
