MNIST_MLP_CODE = code("experiments/mnist_mlp.py", "models/mlp.py", "train/engine.py")


rule train_mnist_mlp:
    input:
        data="data/mnist",
        code=MNIST_MLP_CODE,
    output:
        runs=directory("results/mnist_mlp/{variant}/runs"),
        provenance="results/mnist_mlp/{variant}/provenance.json",
        metrics="results/mnist_mlp/{variant}/metrics.json",
    params:
        values=lambda w: tracked(
            "profile",
            "runtime",
            "mnist_mlp.model",
            "mnist_mlp.train",
            f"mnist_mlp.variants.{w.variant}",
            "mnist_mlp.profiles",
        ),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(variants("mnist_mlp")),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_mnist_mlp/{variant}.log",
    shell:
        "dlrepro train mnist-mlp --variant {wildcards.variant} --params params.yaml --profile {params.profile}"
        " --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        " --provenance {output.provenance} --log {log}"


rule analyze_mnist_mlp:
    input:
        data="data/mnist",
        runs="results/mnist_mlp/default/runs",
        code=MNIST_MLP_CODE,
    output:
        directory("results/mnist_mlp/analysis"),
    params:
        values=tracked(
            "profile",
            "runtime",
            "mnist_mlp.model",
            "mnist_mlp.train",
            "mnist_mlp.analysis",
            "mnist_mlp.variants.default",
            "mnist_mlp.profiles",
        ),
        profile=config["profile"],
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/analyze_mnist_mlp.log",
    shell:
        "dlrepro analyze mnist-mlp --variant default --params params.yaml --profile {params.profile}"
        " --data {input.data} --runs {input.runs} --out {output} --log {log}"
