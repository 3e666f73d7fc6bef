# MNIST MLP studies (REFERENCE.md mlp-grid, mlp-dropout, mnist-linear, layer-probes, training-diagnosis).
MLP_CODE = code("experiments/mnist_mlp.py", "models/mlp.py", "train/engine.py")


rule train_mlp_ablation:
    input:
        data="data/mnist",
        code=[*MLP_CODE, *code("experiments/mlp_ablation.py")],
    output:
        runs=directory("results/mlp_ablation/{variant}/runs"),
        provenance="results/mlp_ablation/{variant}/provenance.json",
        metrics="results/mlp_ablation/{variant}/metrics.json",
    params:
        values=lambda w: tracked(
            "profile",
            "runtime",
            "mlp_ablation.model",
            "mlp_ablation.train",
            f"mlp_ablation.variants.{w.variant}",
            "mlp_ablation.profiles",
        ),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(variants("mlp_ablation")),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_mlp_ablation/{variant}.log",
    shell:
        "dlrepro train mlp-ablation --variant {wildcards.variant} --params params.yaml --profile {params.profile}"
        " --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        " --provenance {output.provenance} --log {log}"


rule summarize_mlp_ablation:
    input:
        runs=expand("results/mlp_ablation/{variant}/runs", variant=variants("mlp_ablation")),
        metrics=expand("results/mlp_ablation/{variant}/metrics.json", variant=variants("mlp_ablation")),
        code=code("experiments/mlp_ablation.py", "report/figures.py"),
    output:
        directory("results/mlp_ablation/summary"),
    params:
        values=tracked("profile", "mlp_ablation.summary"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/summarize_mlp_ablation.log",
    shell:
        "dlrepro summarize-ablation mlp-ablation --params params.yaml --profile {params.profile}"
        " --results results/mlp_ablation --out {output} --log {log}"


rule train_mnist_linear:
    input:
        data="data/mnist",
        code=[*MLP_CODE, *code("experiments/mnist_linear.py")],
    output:
        runs=directory("results/mnist_linear/{variant}/runs"),
        provenance="results/mnist_linear/{variant}/provenance.json",
        metrics="results/mnist_linear/{variant}/metrics.json",
    params:
        values=lambda w: tracked(
            "profile",
            "runtime",
            "mnist_linear.train",
            f"mnist_linear.variants.{w.variant}",
            "mnist_linear.profiles",
        ),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(variants("mnist_linear")),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_mnist_linear/{variant}.log",
    shell:
        "dlrepro train mnist-linear --variant {wildcards.variant} --params params.yaml --profile {params.profile}"
        " --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        " --provenance {output.provenance} --log {log}"


rule probe_layer_probes:
    input:
        data="data/mnist",
        runs="results/mnist_mlp/default/runs",
        trained="results/mnist_mlp/default/metrics.json",
        code=[*MLP_CODE, *code("experiments/layer_probes.py", "report/figures.py")],
    output:
        directory("results/layer_probes/default"),
    params:
        values=tracked("profile", "runtime", "layer_probes"),
        profile=config["profile"],
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/probe_layer_probes.log",
    shell:
        "dlrepro probe --params params.yaml --profile {params.profile} --data {input.data} --runs {input.runs}"
        " --trained {input.trained} --out {output} --log {log}"


rule train_training_diagnosis:
    input:
        data="data/mnist",
        code=[*MLP_CODE, *code("experiments/training_diagnosis.py", "report/figures.py")],
    output:
        runs=directory("results/training_diagnosis/{variant}/runs"),
        provenance="results/training_diagnosis/{variant}/provenance.json",
        metrics="results/training_diagnosis/{variant}/metrics.json",
    params:
        values=lambda w: tracked(
            "profile",
            "runtime",
            "training_diagnosis.model",
            "training_diagnosis.softmax_output",
            "training_diagnosis.train",
            "training_diagnosis.diagnostics",
            "training_diagnosis.broken",
            f"training_diagnosis.variants.{w.variant}",
            "training_diagnosis.profiles",
        ),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(variants("training_diagnosis")),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_training_diagnosis/{variant}.log",
    shell:
        "dlrepro train training-diagnosis --variant {wildcards.variant} --params params.yaml"
        " --profile {params.profile} --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        " --provenance {output.provenance} --log {log}"


rule train_input_order:
    input:
        data="data/mnist",
        code=[*MLP_CODE, *code("experiments/input_order.py", "report/figures.py")],
    output:
        runs=directory("results/input_order/{variant}/runs"),
        provenance="results/input_order/{variant}/provenance.json",
        metrics="results/input_order/{variant}/metrics.json",
    params:
        values=lambda w: tracked(
            "profile",
            "runtime",
            "input_order.storage",
            "input_order.model",
            "input_order.train",
            "input_order.orders",
            f"input_order.variants.{w.variant}",
            "input_order.profiles",
        ),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(variants("input_order")),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_input_order/{variant}.log",
    shell:
        "dlrepro train input-order --variant {wildcards.variant} --params params.yaml --profile {params.profile}"
        " --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        " --provenance {output.provenance} --log {log}"
