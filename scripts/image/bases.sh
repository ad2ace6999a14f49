#!/usr/bin/env bash
# Makes sure the base images deploy/Dockerfile names are there: debian:bookworm-slim and swift:6.3-bookworm.
# Each is used as it is when present, pulled when a registry answers, and otherwise made here under the same tag:
#   debian:bookworm-slim  a minimal bookworm root file system from debootstrap (Debian's packages), trimmed as the
#                         official slim image is (no manuals, documentation or translations), imported as an image;
#   swift:6.3-bookworm    that image plus the packages the official Swift image installs and the Swift toolchain
#                         installed on this machine (scripts/image/swift-bookworm.Containerfile).
# The Dockerfile itself stays what a user with a registry builds. Run by scripts/image/build.sh (make image).
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), SWIFT_TOOLCHAIN (default: the folder above
# the usr/bin/swift on PATH), IMAGE_ENGINE (see engine.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/image/engine.sh
. "$HERE/engine.sh"

DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
SWIFT_IMAGE=docker.io/library/swift:6.3-bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

have_image() { "${ENGINE_CMD[@]}" image inspect "$1" >/dev/null 2>&1; }
try_pull() {
    log "pulling $1"
    if timeout 60 "${ENGINE_CMD[@]}" pull -q "$1" >/dev/null 2>&1; then return 0; fi
    log "$1 cannot be pulled here: making it locally"
    return 1
}

make_debian() {
    apt_install debootstrap
    local work
    work=$(mktemp -d /var/tmp/gigachat-worker-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    log "debootstrap --variant=minbase bookworm ($DEBIAN_MIRROR)"
    $SUDO debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    local root="$work/rootfs"
    # The official image's apt sources (bookworm, its updates and security) instead of debootstrap's one line.
    $SUDO rm -f "$root/etc/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$DEBIAN_MIRROR" | $SUDO tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null
    # Slim: dpkg leaves out manuals, documentation and translations from now on, and those already there go.
    printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' \
        | $SUDO tee "$root/etc/dpkg/dpkg.cfg.d/slim" >/dev/null
    # As in the official image, apt keeps no downloaded packages in a layer.
    printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\nAPT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
        | $SUDO tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null
    $SUDO find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    $SUDO rm -rf "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/var/cache/apt"/*.bin "$root/var/lib/apt/lists"/*
    $SUDO find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    log "importing the root file system as $DEBIAN_IMAGE"
    $SUDO tar -C "$root" --numeric-owner -c . | "${ENGINE_CMD[@]}" import --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
}

make_swift() {
    local toolchain=${SWIFT_TOOLCHAIN:-}
    if [ -z "$toolchain" ]; then
        local swift
        swift=$(readlink -f "$(command -v swift)") || die "no swift on PATH to put in $SWIFT_IMAGE"
        toolchain=$(dirname "$(dirname "$(dirname "$swift")")")
    fi
    [ -x "$toolchain/usr/bin/swift" ] && [ "$toolchain" != / ] \
        || die "SWIFT_TOOLCHAIN=$toolchain: need a toolchain folder of its own (with usr/bin/swift), not /"
    local volumes=(-v "$toolchain:/toolchain:ro") mirror=""
    # A local mirror of github.com (as on machines that reach no forge) goes into the image too.
    mirror=$(git config --get-regexp '^url\..*\.insteadof$' 'https://github.com/' 2>/dev/null | head -1 \
        | sed -E 's/^url\.(.*)\.insteadof .*/\1/; s#/$##') || true
    if [ -n "$mirror" ] && [ -d "$mirror" ]; then
        log "SwiftPM reads github.com from $mirror here: the image gets the same mirror"
        volumes+=(-v "$mirror:/mirror:ro")
    else
        mirror=""
    fi
    log "building $SWIFT_IMAGE from $DEBIAN_IMAGE and the toolchain in $toolchain"
    "${BUILD[@]}" "${volumes[@]}" --build-arg "MIRROR_DIR=$mirror" -t "$SWIFT_IMAGE" \
        -f "$HERE/swift-bookworm.Containerfile" "$HERE" >&2
}

if have_image "$DEBIAN_IMAGE"; then log "$DEBIAN_IMAGE is there"
elif ! try_pull "$DEBIAN_IMAGE"; then make_debian; fi
if have_image "$SWIFT_IMAGE"; then log "$SWIFT_IMAGE is there"
elif ! try_pull "$SWIFT_IMAGE"; then make_swift; fi
