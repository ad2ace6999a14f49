# Sourced by the scripts beside it: picks the container engine and says how to call it.
#   docker, where an engine answers `docker info`;
#   else podman, installed with runc from Debian's packages when missing, and called the way this kind of
#   machine needs: the runc runtime (crun refuses a cgroup layout without delegation), host networking, and
#   open-file and process limits no higher than the hard limits a rootless or nested podman may set.
# Sets: ENGINE (docker|podman) and the arrays BUILD (an image build), RUN (a container run), ENGINE_CMD (the rest).
# Environment: IMAGE_ENGINE=docker|podman chooses instead of detecting.

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

ENGINE=${IMAGE_ENGINE:-}
if [ -z "$ENGINE" ]; then
    if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
case "$ENGINE" in
    docker)
        ENGINE_CMD=(docker)
        BUILD=(docker build)
        RUN=(docker run)
        ;;
    podman)
        apt_install podman runc uidmap
        LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
        ENGINE_CMD=(podman --runtime runc)
        # --format docker: the OCI image format has no HEALTHCHECK, and podman drops it with a warning.
        # --pull=never: base images are the local ones (scripts/image/bases.sh) or ones pulled before.
        BUILD=(podman --runtime runc build --runtime runc --format docker --pull=never --network host "${LIMITS[@]}")
        RUN=(podman --runtime runc run --network host "${LIMITS[@]}")
        ;;
    *) die "IMAGE_ENGINE=$ENGINE: docker or podman" ;;
esac
