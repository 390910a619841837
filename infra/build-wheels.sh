#!/bin/sh
# Stage 1 of infra/Dockerfile, and what tests/infra/test_image.py runs: build the project's
# wheel from the source tree SRC, then the wheels of everything its `server` extra needs,
# all into OUT (the runtime stage installs from OUT alone, without an index or a compiler).
# Usage: build-wheels.sh SRC OUT
set -eu
src=$1
out=$2
mkdir -p "$out"
python -m pip wheel --no-cache-dir --no-deps --wheel-dir "$out" "$src"
wheel=$(ls "$out"/dispatch_client-*.whl)
python -m pip wheel --no-cache-dir --wheel-dir "$out" "${wheel}[server]"
