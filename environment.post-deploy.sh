#!/usr/bin/env bash
# Run by Snakemake (`--sdm conda`) inside the environment it has just made from environment.yml,
# from the directory Snakemake runs in (the repository root), to add what a pip list in
# environment.yml cannot express. By hand:
#   conda env create -f environment.yml && conda activate fhbench && bash environment.post-deploy.sh
set -euo pipefail
test -f pyproject.toml || { echo "environment.post-deploy.sh: run it from the fhbench repository root" >&2; exit 1; }
# medmnist declares torchvision, which breaks the CPU torch: installed without its dependencies
# (the ones it needs are pinned in environment.yml). Same pin as the Makefile.
python -m pip install --no-deps medmnist==3.0.2
# fhbench itself, editable: the rules' scripts import it from this checkout.
python -m pip install --no-deps --no-build-isolation -e .
