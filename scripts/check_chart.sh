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

# One rendered document: the one of this kind and metadata.name in a `helm template` output.
document() {
  awk -v kind="kind: $1" -v name="  name: $2" '
    /^---/ { if (k && n) printf "%s", doc; doc = ""; k = n = 0; next }
    { doc = doc $0 "\n" } $0 == kind { k = 1 } $0 == name { n = 1 }
    END { if (k && n) printf "%s", doc }' "$3"
}

# The ward's internal CA for the SMTP relay (smtp.caBundle): the chart passes the text through
# (the notifier checks the certificates at start-up), so any PEM-shaped text will do here.
printf -- '-----BEGIN CERTIFICATE-----\nTUlORkxPVyBURVNUIENB\n-----END CERTIFICATE-----\n' \
  >"$OUT/ward-ca.pem"

# The defaults, and every optional branch at once: SASL and mutual TLS, a letters claim,
# the ward's files and SMTP CA, KEDA. kubernetes-validate has no schema for KEDA's
# ScaledObject (a CRD); it warns and checks the rest.
echo "[chart] helm template | kubernetes-validate (Kubernetes ${KUBERNETES_VERSION})"
"$HELM" template mynaflow "$CHART" >"$OUT/default.yaml"
validate "$OUT/default.yaml"
"$HELM" template mynaflow "$CHART" \
  --set kafka.securityProtocol=SASL_SSL --set kafka.sasl.mechanism=SCRAM-SHA-512 \
  --set kafka.sasl.existingSecret=mynaflow-kafka-user \
  --set kafka.tls.existingSecret=mynaflow-kafka-tls --set kafka.tls.clientCertificate=true \
  --set smtp.existingSecret=mynaflow-smtp --set services.notifier.lettersClaim=mynaflow-letters \
  --set smtp.starttls=true --set-file smtp.caBundle="$OUT/ward-ca.pem" \
  --set-string policies='{}' --set-string routing='{}' --set-string staff='{}' \
  --set keda.enabled=true --set keda.authenticationRef=mynaflow-kafka >"$OUT/options.yaml"
if ! validate "$OUT/options.yaml" >"$OUT/options.log" 2>&1; then
  cat "$OUT/options.log" >&2
  exit 1
fi
grep -v "Couldn't find schema for kind ScaledObject" "$OUT/options.log" || true
grep -q '^kind: ScaledObject' "$OUT/options.yaml"

# smtp.caBundle: the PEM in the files ConfigMap, mounted in the notifier and named by its
# SMTP_CA_FILE; no other service gets the variable, and without the value nothing is set.
echo "[chart] smtp.caBundle"
document ConfigMap mynaflow-files "$OUT/options.yaml" >"$OUT/files.yaml"
grep -qF "smtp-ca.pem: \"$(awk '{printf "%s\\n", $0}' "$OUT/ward-ca.pem")\"" "$OUT/files.yaml" ||
  { echo "[chart] the files ConfigMap does not hold smtp.caBundle as given" >&2; exit 1; }
document Deployment mynaflow-notifier "$OUT/options.yaml" >"$OUT/notifier.yaml"
grep -A1 -x '            - name: SMTP_CA_FILE' "$OUT/notifier.yaml" |
  grep -qx '              value: /etc/mynaflow/files/smtp-ca.pem' ||
  { echo "[chart] the notifier's SMTP_CA_FILE does not name the mounted bundle" >&2; exit 1; }
grep -A1 -x '            - name: files' "$OUT/notifier.yaml" |
  grep -qx '              mountPath: /etc/mynaflow/files' ||
  { echo "[chart] the notifier does not mount the files ConfigMap" >&2; exit 1; }
if [[ $(grep -c 'name: SMTP_CA_FILE' "$OUT/options.yaml") != 1 ]] ||
    grep -q 'SMTP_CA_FILE\|smtp-ca.pem' "$OUT/default.yaml"; then
  echo "[chart] SMTP_CA_FILE set outside the notifier, or without smtp.caBundle" >&2; exit 1
fi
# A CA without STARTTLS, or text that is no PEM: the notifier would refuse to start (a crash
# loop), so the chart refuses to render, saying why.
if "$HELM" template mynaflow "$CHART" --set-file smtp.caBundle="$OUT/ward-ca.pem" \
    >/dev/null 2>"$OUT/err"; then
  echo "[chart] smtp.caBundle without smtp.starttls rendered" >&2; exit 1
fi
grep -q 'smtp.starttls is false' "$OUT/err"
if "$HELM" template mynaflow "$CHART" --set smtp.starttls=true --set smtp.caBundle=ward-ca.pem \
    >/dev/null 2>"$OUT/err"; then
  echo "[chart] an smtp.caBundle that is no PEM rendered" >&2; exit 1
fi
grep -q 'holds no PEM certificate' "$OUT/err"

# Replicas beyond the partitions of a service's topics must not render.
if "$HELM" template mynaflow "$CHART" --set services.deadline-watcher.replicas=7 \
    >/dev/null 2>"$OUT/err"; then
  echo "[chart] replicas above the partition count rendered; the bound is broken" >&2
  exit 1
fi
grep -q 'would idle' "$OUT/err"
echo "[chart] ok: lint, schemas, the SMTP CA bundle, and the replica bound (replicas > partitions is refused)"
