#!/usr/bin/env bash
# Prints the path of a helm v4 binary, building it from its Go module when none is installed.
#
# Wards and CI machines reach PyPI, Debian's mirror and the Go module proxy, but no release
# download site, so helm is built from source (helm.sh/helm/v4) with the machine's Go toolchain
# and cached under ~/.cache/mynaflow/ (docs/deployment.md, "Validating the chart"). Where Go is
# missing or too old this fails with the reason: a chart that was never validated must not pass.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.2}
# helm v4.3's go.mod asks for this toolchain; an older go would try to download a newer one,
# which the Go module proxy does not serve as a plain module.
GO_MIN_MINOR=26
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mynaflow/helm-${HELM_VERSION}
HELM=$CACHE/bin/helm

log() { echo "[helm] $*" >&2; }

if [[ -n "${HELM_BIN:-}" ]]; then
  echo "$HELM_BIN"; exit 0
fi
if command -v helm >/dev/null && helm version --short 2>/dev/null | grep -q '^v4\.'; then
  command -v helm; exit 0
fi
if [[ -x $HELM ]]; then
  echo "$HELM"; exit 0
fi

GO=$(command -v go || true)
[[ -z $GO && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
if [[ -z $GO ]]; then
  log "no helm v4 and no Go toolchain: install Go 1.${GO_MIN_MINOR}+ (or helm v4) to validate the chart"
  exit 1
fi
go_version=$("$GO" env GOVERSION)   # e.g. go1.26.8
minor=$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$go_version")
if ! [[ $minor =~ ^[0-9]+$ ]] || ((minor < GO_MIN_MINOR)); then
  log "helm ${HELM_VERSION} needs Go 1.${GO_MIN_MINOR}+, this machine has ${go_version}: install a newer Go (or helm v4)"
  exit 1
fi

log "building helm ${HELM_VERSION} from its Go module with ${go_version} (a few minutes, once)"
t0=$SECONDS
mkdir -p "$CACHE"
# GOTOOLCHAIN=local: never fetch another toolchain behind our back. GOFLAGS=-mod=mod lets
# `go install` resolve the module graph as published.
GOBIN=$CACHE/bin GOTOOLCHAIN=local GOFLAGS=-mod=mod \
  nice -n 19 "$GO" install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" >&2
"$HELM" version --short >&2
log "built in $((SECONDS - t0))s: $HELM"
echo "$HELM"
