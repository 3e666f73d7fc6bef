# Speech family: the course pair, utterances (FSDD or generated) with their features, the
# denoisers, the LSTM mask denoiser on utterances, Siamese verification and audio continuation.
# One job per variant; a summary job per experiment gathers its figures and audio for the report.
SPEECH_DATA_CODE = code("data/audio.py", "data/sources.py", "data/speech_gen.py")
SPEECH_CODE = code(
    "experiments/speech_common.py", "models/speech.py", "data/audio.py", "train/engine.py"
)
SPEECH_SUMMARY_CODE = code("report/speech_figures.py", "report/figures.py")


rule data_speech_denoise:
    input:
        SPEECH_DATA_CODE + code("data/speech_denoise.py"),
    output:
        directory("data/speech_denoise"),
    params:
        values=tracked("profile", "speech_denoise"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/data_speech_denoise.log",
    shell:
        "dlrepro data speech_denoise --params params.yaml --profile {params.profile} --out {output} --log {log}"


rule data_speech_utterances:
    input:
        SPEECH_DATA_CODE + code("data/speech_utterances.py", "data/speech_denoise.py", "data/fsdd.sha256"),
    output:
        directory("data/speech_utterances"),
    params:
        values=tracked("profile", "speech_utterances"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/data_speech_utterances.log",
    shell:
        "dlrepro data speech_utterances --params params.yaml --profile {params.profile} --out {output} --log {log}"


rule features_speech:
    input:
        data="data/speech_utterances",
        code=code("data/speech_features.py", "data/audio.py"),
    output:
        directory("data/speech_features"),
    params:
        values=tracked("profile", "speech_features"),
        profile=config["profile"],
    conda:
        CONDA_ENV
    log:
        "logs/features_speech.log",
    shell:
        "dlrepro features speech_features --params params.yaml --profile {params.profile}"
        " --data {input.data} --out {output} --log {log}"


# experiment section: (data folder, its modules, tracked keys)
SPEECH_EXPERIMENTS = {
    "denoise": ("data/speech_denoise", ["experiments/denoise.py"], ["model", "train"]),
    "lstm_ibm": (
        "data/speech_features",
        ["experiments/lstm_ibm.py", "experiments/denoise.py"],
        ["scheme", "model", "train"],
    ),
    "siamese": (
        "data/speech_features",
        ["experiments/siamese.py", "experiments/lstm_ibm.py", "experiments/denoise.py"],
        ["model", "eval", "train"],
    ),
    "continuation": (
        "data/speech_denoise",
        ["experiments/continuation.py", "experiments/denoise.py"],
        ["clip", "model", "train"],
    ),
}


for section, (data, modules, keys) in SPEECH_EXPERIMENTS.items():

    rule:
        name:
            f"train_{section}"
        input:
            data=data,
            code=SPEECH_CODE + code(*modules),
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
        shell:
            train_cmd("{params.experiment}")

    rule:
        name:
            f"summarize_{section}"
        input:
            data=data,
            results=family_outputs(section),
            code=SPEECH_CODE + SPEECH_SUMMARY_CODE + code(*modules),
        output:
            directory(f"results/{section}/summary"),
        params:
            values=tracked("profile", f"{section}.variants"),
            profile=config["profile"],
            experiment=section.replace("_", "-"),
            results=lambda wildcards, output: output[0].rsplit("/", 1)[0],
        conda:
            CONDA_ENV
        log:
            f"logs/summarize_{section}.log",
        shell:
            "dlrepro summarize {params.experiment} --params params.yaml --profile {params.profile}"
            " --data {input.data} --results {params.results} --out {output} --log {log}"


SPEECH_REPORT_INPUTS = [f"results/{section}/summary" for section in SPEECH_EXPERIMENTS] + [
    f"reports/templates/{section}.ipynb" for section in SPEECH_EXPERIMENTS
]
