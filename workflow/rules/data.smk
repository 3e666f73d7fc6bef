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


rule data_fashion_mnist:
    input:
        code("data/fashion_mnist.py", "data/mnist.py", "data/idx.py", "data/sources.py", "data/procedural.py"),
    output:
        directory("data/fashion_mnist"),
    params:
        values=tracked("profile", "fashion_mnist"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/data_fashion_mnist.log",
    shell:
        "dlrepro data fashion_mnist --params params.yaml --profile {params.profile} --out {output} --log {log}"


rule data_cifar10:
    input:
        code("data/cifar10.py", "data/mnist.py", "data/sources.py", "data/procedural.py"),
    output:
        directory("data/cifar10"),
    params:
        values=tracked("profile", "cifar10"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/data_cifar10.log",
    shell:
        "dlrepro data cifar10 --params params.yaml --profile {params.profile} --out {output} --log {log}"
