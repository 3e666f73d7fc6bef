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
        code("report/render.py", "report/reference.py"),
        IMAGE_REPORT_INPUTS,
    output:
        directory("reports/html"),
    params:
        values=tracked("profile", "report"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/report.log",
    shell:
        "dlrepro report --params params.yaml --profile {params.profile} --results results"
        " --reference reports/reference.csv --templates reports/templates --out {output} --log {log}"
