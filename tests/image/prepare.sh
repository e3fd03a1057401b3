#!/usr/bin/env bash
# Prepares this machine for the image test (`make image-test`, tests/image/test_image.py).
#
#   tests/image/prepare.sh [CACHE]     CACHE: default ~/.cache/cdcsink-image-test
#
# 1. Installs podman, buildah, runc and debootstrap with apt-get where podman is missing.
# 2. Writes CACHE/containers.conf, the engine settings the test passes as CONTAINERS_CONF
#    (the system's containers.conf is left alone): the runc runtime and low ulimits, as
#    sandboxes that refuse raising rlimits need (crun fails there on RLIMIT_NOFILE).
# 3. Probes the engine: a container whose rootfs is /usr/bin/true and its libraries must
#    run. Where none can, prints one line saying why and exits 77.
# 4. Picks the base image of both Dockerfile stages and writes its name to CACHE/base-image:
#    $CDCSINK_IMAGE_TEST_BASE when set; else python:3.11-slim, present or pulled; else
#    (no registry reachable) a stand-in: Debian bookworm with its Python 3.11, made with
#    debootstrap once and kept in podman's storage and as CACHE/python3.11-bookworm-rootfs.tar.
#    Remove that image and file to make it anew; the mirror is the host's Debian mirror
#    (or $CDCSINK_IMAGE_TEST_MIRROR), else debootstrap's default.
set -euo pipefail

CACHE=${1:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/cdcsink-image-test}
STANDIN=localhost/cdcsink-image-test/python:3.11-bookworm
ROOTFS_TAR=$CACHE/python3.11-bookworm-rootfs.tar
UPSTREAM=docker.io/library/python:3.11-slim

say() { echo "image-test: $*" >&2; }
cannot_run() { echo "image test skipped: podman cannot run containers on this machine ($*)" >&2; exit 77; }

mkdir -p "$CACHE"

# 1. The engine.
missing=()
for tool in podman buildah runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || cannot_run "no ${missing[*]}, and no apt-get to install them"
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The engine settings.
{
    echo '[containers]'
    echo 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
    if command -v runc >/dev/null; then
        echo '[engine]'
        echo 'runtime = "runc"'
    fi
} >"$CACHE/containers.conf"
export CONTAINERS_CONF=$CACHE/containers.conf

# 3. The probe: no image needed, nothing pulled.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
for file in /usr/bin/true $(ldd /usr/bin/true | grep -o '/[^ ]*'); do
    mkdir -p "$probe/rootfs$(dirname "$file")"
    cp -L "$file" "$probe/rootfs$file"
done
if ! podman run --rm --network none --rootfs "$probe/rootfs" /usr/bin/true >"$probe/out" 2>&1; then
    cannot_run "$(grep -v '^\s*$' "$probe/out" | tail -n 1)"
fi

# 4. The base image.
has_image() { podman image exists "$1"; }
base=${CDCSINK_IMAGE_TEST_BASE:-}
if [[ -n $base ]]; then
    has_image "$base" || podman pull -q "$base" >/dev/null
elif has_image "$UPSTREAM" || timeout 300 podman pull -q "$UPSTREAM" >/dev/null 2>"$probe/pull"; then
    base=$UPSTREAM
else
    say "$UPSTREAM cannot be pulled ($(tail -n 1 "$probe/pull")); using the stand-in $STANDIN"
    base=$STANDIN
    if ! has_image "$STANDIN"; then
        if [[ ! -s $ROOTFS_TAR ]]; then
            mirror=${CDCSINK_IMAGE_TEST_MIRROR:-}
            if [[ -z $mirror ]] && grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
                mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
                    | grep -oE '(URIs:|^deb) +https?://[^ ]+/debian/?( |$)' | head -n 1 | grep -oE 'https?://[^ ]+' || true)
            fi
            say "debootstrap: Debian bookworm with python3 (a few minutes, once)"
            rootfs=$CACHE/rootfs.partial
            rm -rf "$rootfs"
            debootstrap --variant=minbase \
                --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
                bookworm "$rootfs" ${mirror:+"$mirror"} >"$CACHE/debootstrap.log" 2>&1 \
                || { tail -n 5 "$CACHE/debootstrap.log" >&2; exit 1; }
            # As python:3.11-slim: no package lists or archives, no docs; pip may install
            # into the system Python (no EXTERNALLY-MANAGED marker).
            rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
                "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale \
                "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
            tar -C "$rootfs" -cf "$ROOTFS_TAR.partial" .
            mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
            rm -rf "$rootfs"
        fi
        podman import -q \
            --change 'ENV=LANG=C.UTF-8' \
            --change 'ENV=PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD=["python3"]' \
            "$ROOTFS_TAR" "$STANDIN" >/dev/null
    fi
fi
echo "$base" >"$CACHE/base-image"
say "engine ready ($(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')); base image $base"
