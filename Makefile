# Two entry points on a fresh machine (Python 3.11 and make):
#   make pipeline   set up, then run the whole pipeline on the embedded profile and render the report
#   make test       set up, then run the tests (real data from the mirror at ../shared/data when present)
VENV ?= .venv
BIN := $(VENV)/bin
MIRROR ?= $(abspath ../shared/data)

.PHONY: setup pipeline real test dag record-in-dvc record-in-snakemake benchmarks clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	# An editable install is not byte-compiled; every stage imports the package afresh.
	$(BIN)/python -m compileall -q src
	touch $@

pipeline: setup
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores all
	@echo "Report: reports/html/index.html"

# Every family on real data (the mirror's copies, or upstream without one; CIFAR-10 is the mirror's
# subset), every verdict, one stage at a time: about two hours on 2 cores with Snakemake (sums of
# measured parts, README: Results and the 11-785 section). Then `dlrepro readme --profile real` writes
# the README's tables from the results.
real: setup
	PATH="$(abspath $(BIN)):$$PATH" $(if $(wildcard $(MIRROR)),DLREPRO_MIRROR="$${DLREPRO_MIRROR:-$(MIRROR)}") \
		snakemake --cores all --config profile=real
	@echo "Report: reports/html/index.html"

test: setup
	PATH="$(abspath $(BIN)):$$PATH" DLREPRO_MIRROR="$${DLREPRO_MIRROR:-$(MIRROR)}" $(BIN)/pytest -n auto --dist loadfile

# dvc.yaml is generated from src/dlrepro/registry.py: run this after changing the registry or an
# import, and commit the result (a test fails while it is stale).
dag: setup
	$(BIN)/python -m dlrepro.dvc_yaml dvc.yaml

# Hand one tool's results to the other without re-running anything (README: Snakemake and DVC on
# one tree). Snakemake's code fingerprints are its own, so after a DVC run they are made first.
record-in-dvc: setup
	PATH="$(abspath $(BIN)):$$PATH" dvc commit --force

record-in-snakemake: setup
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores all $$(PATH="$(abspath $(BIN)):$$PATH" snakemake --list-rules | grep '^code_')
	PATH="$(abspath $(BIN)):$$PATH" snakemake --touch --forceall --cores 1

benchmarks: setup
	cd benchmarks && PATH="$(abspath $(BIN)):$$PATH" python mlp_throughput.py && python engine_vs_dataloader.py && python noop.py \
		&& python mytorch_speed.py && python startup.py

clean:
	rm -rf data results logs reports/html reports/notebooks reports/.page-cache .snakemake
