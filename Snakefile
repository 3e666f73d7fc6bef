# dlrepro: the whole pipeline. Rules live in workflow/rules, one file per phase; every value
# comes from params.yaml. dvc.yaml describes the same stages (tests/integration/test_dag_parity.py).
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/mnist_mlp.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/svd_compress.smk"
include: "workflow/rules/mlp_studies.smk"
include: "workflow/rules/speech.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "reports/html",
    default_target: True
