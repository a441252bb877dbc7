#!/usr/bin/env bash
# `make chart-check`: the Helm chart lints, renders, and validates against the Kubernetes
# schemas, offline (docs/deployment.md, "Validating the chart").
#
# helm comes from scripts/ensure_helm.sh (built from its Go module when missing); the schemas
# ship inside the pinned kubernetes-validate package from PyPI, run as a uv tool so the
# project's own environment does not grow.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=deploy/helm/mynaflow
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.37.0}
UV=${UV:-uv}

HELM=$(scripts/ensure_helm.sh)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

validate() {
  "$UV" tool run --quiet --from "$KUBERNETES_VALIDATE" kubernetes-validate \
    --strict --quiet -k "$KUBERNETES_VERSION" "$@"
}

echo "[chart] helm lint (${HELM})"
"$HELM" lint --strict "$CHART"

# The defaults, and every optional branch at once: SASL and mutual TLS, a letters claim,
# the ward's files, KEDA. kubernetes-validate has no schema for KEDA's ScaledObject (a CRD);
# it warns and checks the rest.
echo "[chart] helm template | kubernetes-validate (Kubernetes ${KUBERNETES_VERSION})"
"$HELM" template mynaflow "$CHART" >"$OUT/default.yaml"
validate "$OUT/default.yaml"
"$HELM" template mynaflow "$CHART" \
  --set kafka.securityProtocol=SASL_SSL --set kafka.sasl.mechanism=SCRAM-SHA-512 \
  --set kafka.sasl.existingSecret=mynaflow-kafka-user \
  --set kafka.tls.existingSecret=mynaflow-kafka-tls --set kafka.tls.clientCertificate=true \
  --set smtp.existingSecret=mynaflow-smtp --set services.notifier.lettersClaim=mynaflow-letters \
  --set-string policies='{}' --set-string routing='{}' --set-string staff='{}' \
  --set keda.enabled=true --set keda.authenticationRef=mynaflow-kafka >"$OUT/options.yaml"
if ! validate "$OUT/options.yaml" >"$OUT/options.log" 2>&1; then
  cat "$OUT/options.log" >&2
  exit 1
fi
grep -v "Couldn't find schema for kind ScaledObject" "$OUT/options.log" || true
grep -q '^kind: ScaledObject' "$OUT/options.yaml"

# Replicas beyond the partitions of a service's topics must not render.
if "$HELM" template mynaflow "$CHART" --set services.deadline-watcher.replicas=7 \
    >/dev/null 2>"$OUT/err"; then
  echo "[chart] replicas above the partition count rendered; the bound is broken" >&2
  exit 1
fi
grep -q 'would idle' "$OUT/err"
echo "[chart] ok: lint, schemas, and the replica bound (replicas > partitions is refused)"
