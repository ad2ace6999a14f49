#!/usr/bin/env bash
# make image: builds deploy/Dockerfile as gigachat-worker:local (IMAGE= for another tag) with docker where an engine
# answers, else with podman (engine.sh), after making sure its base images are there (bases.sh). Prints the size.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGE=${IMAGE:-gigachat-worker:local}
# shellcheck source=scripts/image/engine.sh
. "$HERE/engine.sh"

bash "$HERE/bases.sh"
log "building $IMAGE from deploy/Dockerfile with $ENGINE"
started=$SECONDS
cd "$ROOT"
if [ "$ENGINE" = docker ]; then
    DOCKER_BUILDKIT=1 "${BUILD[@]}" -f deploy/Dockerfile -t "$IMAGE" .
else
    # podman reads no <Dockerfile>.dockerignore by itself: name it.
    "${BUILD[@]}" --ignorefile deploy/Dockerfile.dockerignore -f deploy/Dockerfile -t "$IMAGE" .
fi
size=$("${ENGINE_CMD[@]}" image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE in $((SECONDS - started)) s: $((size / 1000000)) MB"
