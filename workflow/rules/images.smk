# Image classification on Fashion-MNIST and CIFAR-10: fmnist-mlp-grid, fmnist-cnn, cifar-cnn,
# cifar-augment (one rule pair per family, made in a loop) and cifar-transfer (pretext, then
# fine-tuning). Every variant is its own job; a summary job per family draws the comparisons.
IMAGE_FAMILIES = {
    # params section: (dataset, the family's own module)
    "fmnist_mlp_grid": ("fashion_mnist", "experiments/fmnist_mlp_grid.py"),
    "fmnist_cnn": ("fashion_mnist", "experiments/fmnist_cnn.py"),
    "cifar_cnn": ("cifar10", "experiments/cifar_cnn.py"),
    "cifar_augment": ("cifar10", "experiments/cifar_augment.py"),
}
IMAGE_CODE = code(
    "experiments/classify.py",
    "models/cnn.py",
    "models/mlp.py",
    "train/engine.py",
    "train/augment.py",
)
SUMMARY_CODE = code("report/image_figures.py", "report/figures.py")
TRANSFER_VARIANTS = variants("cifar_transfer")
FINETUNE_VARIANTS = [v for v in TRANSFER_VARIANTS if v != "scratch"]


for section, (dataset, module) in IMAGE_FAMILIES.items():
    keys = ["data", "model", "train"] + (["augment"] if section == "cifar_augment" else [])

    rule:
        name:
            f"train_{section}"
        input:
            data=f"data/{dataset}",
            code=IMAGE_CODE + code(module),
        output:
            runs=directory(f"results/{section}/{{variant}}/runs"),
            provenance=f"results/{section}/{{variant}}/provenance.json",
            metrics=f"results/{section}/{{variant}}/metrics.json",
        params:
            values=variant_values(section, *keys),
            profile=config["profile"],
            experiment=section.replace("_", "-"),
        wildcard_constraints:
            variant="|".join(variants(section)),
        threads: TORCH_THREADS
        conda:
            CONDA_ENV
        log:
            f"logs/train_{section}/{{variant}}.log",
        # Snakemake evaluates shell: when the job runs, after the loop: no loop variables in it.
        shell:
            train_cmd("{params.experiment}")

    rule:
        name:
            f"summarize_{section}"
        input:
            data=f"data/{dataset}",
            results=family_outputs(section),
            code=IMAGE_CODE + SUMMARY_CODE + code(module),
        output:
            directory(f"results/{section}/summary"),
        params:
            values=tracked("profile", f"{section}.variants"),
            profile=config["profile"],
            experiment=section.replace("_", "-"),
            results=lambda wildcards, output: output[0].rsplit("/", 1)[0],  # the summary's parent
        conda:
            CONDA_ENV
        log:
            f"logs/summarize_{section}.log",
        shell:
            "dlrepro summarize {params.experiment} --params params.yaml --profile {params.profile}"
            " --data {input.data} --results {params.results} --out {output} --log {log}"


TRANSFER_CODE = IMAGE_CODE + code("experiments/cifar_transfer.py")


rule pretrain_cifar_transfer:
    input:
        data="data/cifar10",
        code=TRANSFER_CODE,
    output:
        runs=directory("results/cifar_transfer/pretext/runs"),
        provenance="results/cifar_transfer/pretext/provenance.json",
        metrics="results/cifar_transfer/pretext/metrics.json",
    params:
        values=tracked(
            "profile",
            "runtime",
            "cifar_transfer.data",
            "cifar_transfer.model",
            "cifar_transfer.pretext",
            "cifar_transfer.profiles",
        ),
        profile=config["profile"],
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/pretrain_cifar_transfer.log",
    shell:
        "dlrepro pretrain cifar-transfer --params params.yaml --profile {params.profile} --data {input.data}"
        " --runs {output.runs} --metrics {output.metrics} --provenance {output.provenance} --log {log}"


# The baseline trains from scratch: it does not wait for (or re-run after) the pretext task.
rule train_cifar_transfer_scratch:
    input:
        data="data/cifar10",
        code=TRANSFER_CODE,
    output:
        runs=directory("results/cifar_transfer/scratch/runs"),
        provenance="results/cifar_transfer/scratch/provenance.json",
        metrics="results/cifar_transfer/scratch/metrics.json",
    params:
        values=tracked(
            "profile",
            "runtime",
            "cifar_transfer.data",
            "cifar_transfer.model",
            "cifar_transfer.finetune",
            "cifar_transfer.train",
            "cifar_transfer.variants.scratch",
            "cifar_transfer.profiles",
        ),
        profile=config["profile"],
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_cifar_transfer/scratch.log",
    shell:
        "dlrepro train cifar-transfer --variant scratch --params params.yaml --profile {params.profile}"
        " --data {input.data} --runs {output.runs} --metrics {output.metrics}"
        " --provenance {output.provenance} --log {log}"


rule train_cifar_transfer:
    input:
        data="data/cifar10",
        pretrained="results/cifar_transfer/pretext/runs",
        code=TRANSFER_CODE,
    output:
        runs=directory("results/cifar_transfer/{variant}/runs"),
        provenance="results/cifar_transfer/{variant}/provenance.json",
        metrics="results/cifar_transfer/{variant}/metrics.json",
    params:
        values=variant_values("cifar_transfer", "data", "model", "finetune", "train"),
        profile=config["profile"],
    wildcard_constraints:
        variant="|".join(FINETUNE_VARIANTS),
    threads: TORCH_THREADS
    conda:
        CONDA_ENV
    log:
        "logs/train_cifar_transfer/{variant}.log",
    shell:
        train_cmd("cifar-transfer", " --pretrained {input.pretrained}")


rule summarize_cifar_transfer:
    input:
        data="data/cifar10",
        results=family_outputs("cifar_transfer") + family_outputs("cifar_transfer", ["pretext"]),
        code=TRANSFER_CODE + SUMMARY_CODE,
    output:
        directory("results/cifar_transfer/summary"),
    params:
        values=tracked("profile", "cifar_transfer.variants"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/summarize_cifar_transfer.log",
    shell:
        "dlrepro summarize cifar-transfer --params params.yaml --profile {params.profile}"
        " --data {input.data} --results results/cifar_transfer --out {output} --log {log}"


IMAGE_REPORT_INPUTS = [
    f"results/{section}/summary" for section in [*IMAGE_FAMILIES, "cifar_transfer"]
] + [f"reports/templates/{section}.ipynb" for section in [*IMAGE_FAMILIES, "cifar_transfer"]]
