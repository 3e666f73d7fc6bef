rule data_mnist:
    input:
        code("data/mnist.py", "data/idx.py", "data/sources.py"),
    output:
        directory("data/mnist"),
    params:
        values=tracked("profile", "mnist"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/data_mnist.log",
    shell:
        "dlrepro data mnist --params params.yaml --profile {params.profile} --out {output} --log {log}"
