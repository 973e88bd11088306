#!/usr/bin/env bash
# Build a Debian bookworm base image locally, for machines that reach Debian's package
# mirror but no container registry:  sandboxes/bootstrap-base.sh [IMAGE] [MIRROR]
# Then: synth sandbox build --base-image IMAGE   (default IMAGE: synth-debian:bookworm)
set -euo pipefail
image="${1:-synth-debian:bookworm}"
mirror="${2:-http://deb.debian.org/debian}"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image exists"
  exit 0
fi
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
tar -C "$root" -c . | docker import - "$image" >/dev/null
echo "built $image"
