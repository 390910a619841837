#!/bin/sh
# Stage 2 of infra/Dockerfile, and what tests/infra/test_image.py runs: a virtualenv VENV
# with `dispatch-client[server]` installed from the wheels in WHEELS only (no index).
# Usage: install-wheels.sh WHEELS VENV
set -eu
wheels=$1
venv=$2
python -m venv "$venv"
"$venv/bin/python" -m pip install --no-cache-dir --no-index --find-links "$wheels" \
    "dispatch-client[server]"
