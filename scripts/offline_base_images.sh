#!/usr/bin/env bash
# Builds local stand-ins for the Dockerfile's two base images from what an air-gapped ward
# still reaches: Debian's mirror (mmdebstrap) and PyPI (the uv wheel). Used by
# scripts/build_images.sh when the public images cannot be pulled (docs/deployment.md,
# "The air-gapped build").
#
#   scripts/offline_base_images.sh <uv version>
#
# Prints two lines for the caller to eval: PYTHON_IMAGE=... and UV_IMAGE=...
# The images go into buildah's default store. The Debian tarball and the uv wheel are cached
# under ~/.cache/mynaflow/base-images/, so a second run only re-imports them (or does nothing
# when the images are already in the store).
set -euo pipefail

UV_VERSION=${1:?usage: offline_base_images.sh <uv version>}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_MAX_AGE_DAYS=${BASE_MAX_AGE_DAYS:-7}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mynaflow/base-images
# shellcheck source=scripts/buildah_env.sh
source "$(dirname "$0")/buildah_env.sh"
ensure_storage_conf
PYTHON_IMAGE=localhost/mynaflow-base/python:3.11-slim-bookworm
UV_IMAGE=localhost/mynaflow-base/uv:${UV_VERSION}
# A ward's PyPI mirror, when it has one (the same index uv is given).
PYPI_SIMPLE=${PYPI_SIMPLE_URL:-https://pypi.org/simple}

log() { echo "[base-images] $*" >&2; }
have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }
mkdir -p "$CACHE"

python_image() {
  local tarball=$CACHE/debian-${SUITE}-python3-minbase.tar fresh=false
  # A base older than a week is made again, so the images pick up Debian's security updates
  # (the official image is rebuilt upstream for the same reason).
  if [[ ! -s $tarball || -n $(find "$tarball" -mtime "+${BASE_MAX_AGE_DAYS}") ]]; then
    log "mmdebstrap: Debian ${SUITE} minbase with python3 from ${MIRROR} and ${SECURITY_MIRROR} (cached in ${tarball} for ${BASE_MAX_AGE_DAYS} days)"
    # The same packages python:3.11-slim-bookworm relies on: python3 itself, venv support,
    # the CA bundle, useradd (passwd) and the OS time zones. No compilers: minbase has none and
    # none of these pulls one in. Docs, man pages and locales are dropped to stay slim.
    nice -n 19 mmdebstrap --variant=minbase --format=tar \
      --include=python3,python3-venv,ca-certificates,passwd,tzdata \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      "$SUITE" "$tarball.part" \
      "deb ${MIRROR} ${SUITE} main" \
      "deb ${MIRROR} ${SUITE}-updates main" \
      "deb ${SECURITY_MIRROR} ${SUITE}-security main" >&2
    mv "$tarball.part" "$tarball"
    fresh=true
  fi
  if [[ $fresh == false ]] && have_image "$PYTHON_IMAGE"; then
    log "$PYTHON_IMAGE already in the store"
    return
  fi
  local ctr previous
  previous=$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$PYTHON_IMAGE" 2>/dev/null || true)
  ctr=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add --quiet "$ctr" "$tarball" / >/dev/null
  "${BUILDAH[@]}" config --env LANG=C.UTF-8 --cmd python3 \
    --label org.opencontainers.image.description="local stand-in for python:3.11-slim-bookworm (mmdebstrap minbase)" \
    "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$PYTHON_IMAGE" >/dev/null
  # The base it replaces, unless images built on it still hold it.
  [[ -z $previous ]] || "${BUILDAH[@]}" rmi "$previous" >/dev/null 2>&1 || true
  log "built $PYTHON_IMAGE from ${tarball##*/}"
}

uv_wheel() {
  # The musllinux wheel's uv is a static binary, like the one in uv's own image, so it runs
  # whatever the libc of the base image. The index is read through PyPI's JSON simple API
  # (PEP 691), which PyPI mirrors serve too.
  local arch url sha name
  arch=$(uname -m)
  read -r url sha < <(curl -fsS --retry 3 -H 'Accept: application/vnd.pypi.simple.v1+json' \
    "${PYPI_SIMPLE}/uv/" | python3 -c '
import json, sys, urllib.parse
index, version, arch = sys.argv[1:]
for f in json.load(sys.stdin)["files"]:
    name = f["filename"]
    if name.startswith(f"uv-{version}-") and name.endswith(f"musllinux_1_1_{arch}.whl"):
        print(urllib.parse.urljoin(index, f["url"]), f["hashes"]["sha256"])
        break
' "${PYPI_SIMPLE}/uv/" "$UV_VERSION" "$arch") || true
  [[ -n ${url:-} ]] || { log "no uv ${UV_VERSION} musllinux wheel for ${arch} on ${PYPI_SIMPLE}"; return 1; }
  name=$CACHE/$(basename "${url%%#*}")
  if [[ ! -s $name ]]; then
    log "downloading ${name##*/} from ${PYPI_SIMPLE}"
    curl -fsS --retry 3 -o "$name.part" "$url"
    mv "$name.part" "$name"
  fi
  echo "${sha}  ${name}" | sha256sum -c --quiet - >&2 \
    || { log "checksum mismatch for ${name}; deleted"; rm -f "$name"; return 1; }
  echo "$name"
}

uv_image() {
  if have_image "$UV_IMAGE"; then
    log "$UV_IMAGE already in the store"
    return
  fi
  local wheel dir ctr
  wheel=$(uv_wheel)
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  python3 -m zipfile -e "$wheel" "$dir"
  install -m 0755 "$dir/uv-${UV_VERSION}.data/scripts/uv" "$dir/uv-binary"
  # Like uv's own image: the binary at /uv and nothing else.
  ctr=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" copy --quiet "$ctr" "$dir/uv-binary" /uv >/dev/null
  "${BUILDAH[@]}" config --entrypoint '["/uv"]' \
    --label org.opencontainers.image.description="uv ${UV_VERSION} from its PyPI wheel" "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$UV_IMAGE" >/dev/null
  log "built $UV_IMAGE from ${wheel##*/}"
}

python_image
uv_image
echo "PYTHON_IMAGE=$PYTHON_IMAGE"
echo "UV_IMAGE=$UV_IMAGE"
