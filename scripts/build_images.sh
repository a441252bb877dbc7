#!/usr/bin/env bash
# `make images`: builds mynaflow/<service>:<version> for the four services from the one root
# Dockerfile (docs/deployment.md, "Images").
#
# - Docker when an engine answers, buildah otherwise (installed from Debian when missing);
#   buildah uses the vfs driver and chroot isolation, which need no daemon and no privileges
#   beyond root, in its default store, so `buildah images` lists the result.
# - PYTHON_IMAGE / UV_IMAGE: taken as given when set (a ward's own mirror); otherwise the
#   Dockerfile's public defaults, and when those cannot be pulled, local stand-ins built by
#   scripts/offline_base_images.sh from Debian's mirror and PyPI.
# - The host's CA bundle goes to the build as a secret, so uv and apt trust a TLS-inspecting
#   proxy; it is never copied into a layer.
#
#   scripts/build_images.sh [service...]        (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=${UV_VERSION:-0.13.8}
DEFAULT_PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm
DEFAULT_UV_IMAGE=ghcr.io/astral-sh/uv:${UV_VERSION}
declare -A PORTS=([notice-intake]=8081 [card-registry]=8082 [deadline-watcher]=8083 [notifier]=8084)
SERVICES=("$@")
((${#SERVICES[@]})) || SERVICES=(notice-intake card-registry deadline-watcher notifier)

# shellcheck source=scripts/buildah_env.sh
source scripts/buildah_env.sh

log() { echo "[images] $*" >&2; }
SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo -n)

engine() {
  if [[ -n ${IMAGE_ENGINE:-} ]]; then echo "$IMAGE_ENGINE"; return; fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  echo buildah
}

install_buildah() {
  # Like .ci/run: the project installs what it needs. mmdebstrap is for the air-gapped path.
  local want=()
  command -v buildah >/dev/null || want+=(buildah)
  command -v mmdebstrap >/dev/null || want+=(mmdebstrap)
  ((${#want[@]})) || return 0
  log "installing ${want[*]} from Debian"
  "${SUDO[@]}" apt-get update -q >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${want[@]}" >&2
}

ca_bundle() {
  # The bundle the host itself trusts, proxy CA included (Debian's update-ca-certificates
  # puts local CAs into it).
  local f
  for f in "${BUILD_CA_FILE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [[ -n $f && -s $f ]]; then echo "$f"; return; fi
  done
}

version_of() {
  sed -nE 's/^version = "([^"]+)"/\1/p' "services/$1/pyproject.toml" | head -1
}

pull() {
  if [[ $ENGINE == docker ]]; then docker pull -q "$1" >/dev/null 2>&1
  else timeout 120 "${BUILDAH[@]}" pull -q "$1" >/dev/null 2>&1; fi
}

choose_base_images() {
  if [[ -n ${PYTHON_IMAGE:-} && -n ${UV_IMAGE:-} ]]; then
    log "base images as given: ${PYTHON_IMAGE}, ${UV_IMAGE}"
    return
  fi
  if pull "$DEFAULT_PYTHON_IMAGE" && pull "$DEFAULT_UV_IMAGE"; then
    PYTHON_IMAGE=$DEFAULT_PYTHON_IMAGE UV_IMAGE=$DEFAULT_UV_IMAGE
    log "base images pulled: ${PYTHON_IMAGE}, ${UV_IMAGE}"
    return
  fi
  log "the public base images cannot be pulled: building local stand-ins from Debian's mirror and PyPI (air-gapped path)"
  command -v mmdebstrap >/dev/null && command -v buildah >/dev/null || install_buildah
  local line
  while read -r line; do
    case $line in PYTHON_IMAGE=* | UV_IMAGE=*) export "${line?}" ;; esac
  done < <(scripts/offline_base_images.sh "$UV_VERSION")
  if [[ $ENGINE == docker ]]; then
    # The stand-ins are built with buildah; hand them to the Docker engine.
    "${BUILDAH[@]}" push -q "$PYTHON_IMAGE" "docker-daemon:${PYTHON_IMAGE}" >&2
    "${BUILDAH[@]}" push -q "$UV_IMAGE" "docker-daemon:${UV_IMAGE}" >&2
  fi
  log "using the local base images ${PYTHON_IMAGE}, ${UV_IMAGE}"
}

build_one() {
  local service=$1 tag=$2 ca
  ca=$(ca_bundle || true)
  local args=(
    --build-arg "SERVICE=${service}" --build-arg "PORT=${PORTS[$service]}"
    --build-arg "PYTHON_IMAGE=${PYTHON_IMAGE}" --build-arg "UV_IMAGE=${UV_IMAGE}"
    -f Dockerfile -t "$tag"
  )
  [[ -z $ca ]] || args+=(--secret "id=build-ca,src=${ca}")
  if [[ $ENGINE == docker ]]; then
    DOCKER_BUILDKIT=1 nice -n 19 docker build "${args[@]}" . >&2
  else
    # No intermediate layers: with vfs every cached step is a full copy of the file system,
    # which made a build take minutes instead of seconds. The uv cache mount keeps rebuilds
    # from downloading anything. `--format docker` keeps the HEALTHCHECK.
    local rc=0
    nice -n 19 "${BUILDAH[@]}" build --layers=false --pull=never --format docker "${args[@]}" . >&2 \
      || rc=$?
    drop_stage_containers
    return "$rc"
  fi
}

image_id() {
  if [[ $ENGINE == docker ]]; then docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true
  else "${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; fi
}

drop_replaced() {
  # The image a rebuild replaced, now untagged: without this every run would leave a few
  # hundred MB behind in the store (a full copy with vfs).
  local previous=$1 tag=$2
  [[ -n $previous && $previous != "$(image_id "$tag")" ]] || return 0
  if [[ $ENGINE == docker ]]; then docker rmi "$previous" >/dev/null 2>&1 || true
  else "${BUILDAH[@]}" rmi "$previous" >/dev/null 2>&1 || true; fi
}

drop_stage_containers() {
  # buildah 1.28 leaves a working container behind for a stage that is only a FROM (the uv
  # stage); remove the ones on our uv image, nothing else.
  local name image
  while read -r name image; do
    [[ $image == "${UV_IMAGE}" || $image == "localhost/${UV_IMAGE}" ]] || continue
    "${BUILDAH[@]}" rm "$name" >/dev/null
  done < <("${BUILDAH[@]}" containers --format '{{.ContainerName}} {{.ImageName}}')
}

check_one() {
  # The image must run as the unprivileged user and hold no compiler (docs/deployment.md).
  local tag=$1 out
  if [[ $ENGINE == docker ]]; then
    out=$(docker run --rm --entrypoint /bin/sh "$tag" -c \
      'id -u; for c in gcc cc c++ g++ clang make; do command -v $c || true; done')
  else
    local ctr
    ctr=$("${BUILDAH[@]}" from -q --pull=never "$tag")
    out=$("${BUILDAH[@]}" run "$ctr" -- /bin/sh -c \
      'id -u; for c in gcc cc c++ g++ clang make; do command -v $c || true; done') \
      || { "${BUILDAH[@]}" rm "$ctr" >/dev/null; return 1; }
    "${BUILDAH[@]}" rm "$ctr" >/dev/null
  fi
  local uid compilers
  uid=$(head -1 <<<"$out")
  compilers=$(tail -n +2 <<<"$out" | tr '\n' ' ')
  if [[ $uid == 0 ]]; then log "$tag runs as root"; return 1; fi
  if [[ -n ${compilers// /} ]]; then log "$tag carries compilers: $compilers"; return 1; fi
}

size_of() {
  if [[ $ENGINE == docker ]]; then docker image inspect -f '{{.Size}}' "$1" | numfmt --to=si
  else "${BUILDAH[@]}" images --format '{{.Size}}' "$1" | head -1; fi
}

ENGINE=$(engine)
if [[ $ENGINE == buildah ]]; then install_buildah; ensure_storage_conf; fi
log "engine: ${ENGINE}"
t0=$SECONDS
choose_base_images
declare -a SUMMARY=()
for service in "${SERVICES[@]}"; do
  [[ -n ${PORTS[$service]:-} ]] || { log "unknown service ${service}"; exit 2; }
  tag=mynaflow/${service}:$(version_of "$service")
  t1=$SECONDS
  log "building ${tag}"
  previous=$(image_id "$tag")
  build_one "$service" "$tag"
  check_one "$tag"
  drop_replaced "$previous" "$tag"
  SUMMARY+=("$(printf '%-34s %8s  %4ss' "$tag" "$(size_of "$tag")" "$((SECONDS - t1))")")
done
log "images (non-root, no compilers), size, build time:"
printf '  %s\n' "${SUMMARY[@]}" >&2
log "done in $((SECONDS - t0))s"
