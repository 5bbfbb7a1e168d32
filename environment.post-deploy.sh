#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment of environment.yml (`snakemake --sdm conda`):
# install infoplane itself, editable, from the checkout whose workflow/Snakefile created the
# environment (the Snakefile exports INFOPLANE_SOURCE). The dependencies come from environment.yml.
set -euo pipefail
python -m pip install --no-deps -e "${INFOPLANE_SOURCE:?is set by workflow/Snakefile}"
