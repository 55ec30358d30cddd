# Two entry points do all set-up on a fresh machine (Python 3.11 on PATH, nothing else):
#   make demo   build the environment if missing, run the demo DAG end to end
#   make test   build the environment if missing, run the tests
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fhbench-installed
CORES ?= 2
export HF_HUB_OFFLINE := 1
export DVC_NO_ANALYTICS := 1

.PHONY: env demo report test lint format clean-demo

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# medmnist declares torchvision, which must stay out (it breaks the CPU torch): no deps.
	$(BIN)/python -m pip install --quiet --no-deps medmnist==3.0.2
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# check-config first: Snakemake reports a YAML error in --configfile without its file and line.
demo: env
	$(BIN)/fhbench check-config config/demo.yaml
	$(BIN)/snakemake all --cores $(CORES) --configfile config/demo.yaml

# The Snakemake report (tables and figures with captions) of the demo run.
report: demo
	$(BIN)/snakemake --report report.html --configfile config/demo.yaml

test: env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The checks tests/test_lint.py enforces, and the automatic fixes (then fix by hand what remains).
lint: env
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/snakefmt --check .

format: env
	$(BIN)/ruff check --fix . && $(BIN)/ruff format . && $(BIN)/snakefmt .

# The demo's results and logs, its generated twins and their splits, and the tiny models. Other
# configs' results and data stay, and so does .snakemake/ (it holds their rerun records).
clean-demo:
	rm -rf results/demo logs/demo resources/raw/*/demo-* resources/downloads/*/demo-* resources/prepared/*/demo-* \
	  resources/partitions/*/demo-* resources/models/*/tiny-* report.html
