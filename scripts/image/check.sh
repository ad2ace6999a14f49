#!/usr/bin/env bash
# make image-check: runs the built image (make image) against Tansu on the host; the checks are in check.py.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/image/engine.sh
. "$HERE/engine.sh"
IMAGE_ENGINE=$ENGINE
IMAGE_ENGINE_CMD=$(printf '%s\n' "${ENGINE_CMD[@]}")
IMAGE_RUN=$(printf '%s\n' "${RUN[@]}")
export IMAGE_ENGINE IMAGE_ENGINE_CMD IMAGE_RUN
exec python3 "$HERE/check.py"
