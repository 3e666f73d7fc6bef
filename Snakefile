# dlrepro: the whole pipeline. Every stage is declared once, in src/dlrepro/registry.py; the rules
# come from it (workflow/rules/stages.smk), and so does dvc.yaml (`make dag`). Values come from
# params.yaml and params/<section>.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"


# Every output of every stage, not just the report: after an interrupted run the next plain run
# rebuilds whatever is missing, even where the report is still there.
rule all:
    input:
        ALL_OUTPUTS,
    default_target: True
