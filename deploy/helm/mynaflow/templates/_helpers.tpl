{{/* Names and the replica bound shared by the templates. */}}

{{- define "mynaflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mynaflow.labels" -}}
app.kubernetes.io/part-of: mynaflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one service: dict "root" $ "name" <service>. */}}
{{- define "mynaflow.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* TOPIC_PARTITIONS_<NAME>: the topic name upper-cased, dots and dashes as underscores. */}}
{{- define "mynaflow.topicVar" -}}
{{- . | upper | replace "." "_" | replace "-" "_" -}}
{{- end -}}

{{/*
The most replicas a service can use: the largest partition count among the topics it consumes.
A consumer-group member beyond it is assigned no partition and only idles, and KEDA would scale
into that dead zone, so the chart fails rather than render it.
*/}}
{{- define "mynaflow.partitionBound" -}}
{{- $root := .root -}}
{{- $bound := 0 -}}
{{- range .svc.consumes -}}
{{- $p := index $root.Values.topics.partitions . | default 0 | int -}}
{{- if not (hasKey $root.Values.topics.partitions .) -}}
{{- fail (printf "services.%s.consumes names %s, which topics.partitions does not list" $.name .) -}}
{{- end -}}
{{- if gt $p $bound -}}{{- $bound = $p -}}{{- end -}}
{{- end -}}
{{- $bound -}}
{{- end -}}

{{- define "mynaflow.checkReplicas" -}}
{{- $bound := include "mynaflow.partitionBound" . | int -}}
{{- if gt (int .svc.replicas) $bound -}}
{{- fail (printf "services.%s.replicas is %d, but its topics (%s) have at most %d partitions: the extra replicas would idle. Raise topics.partitions (before the topics are created) or lower the replicas." .name (int .svc.replicas) (join ", " .svc.consumes) $bound) -}}
{{- end -}}
{{- if lt (int .svc.replicas) 1 -}}
{{- fail (printf "services.%s.replicas must be at least 1" .name) -}}
{{- end -}}
{{- end -}}

{{- define "mynaflow.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $repo := printf "%s/%s" .root.Values.image.repository .name -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" .root.Values.image.registry $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
smtp.caBundle is only used over STARTTLS, and must be PEM: the notifier refuses either mistake
at start-up (a pod in a crash loop); the chart says so before anything is installed.
*/}}
{{- define "mynaflow.checkSmtpCaBundle" -}}
{{- with .Values.smtp.caBundle -}}
{{- if not $.Values.smtp.starttls -}}
{{- fail "smtp.caBundle is set but smtp.starttls is false: the mail would go in clear text and the CA would never be used; set smtp.starttls=true" -}}
{{- end -}}
{{- if not (contains "-----BEGIN CERTIFICATE-----" .) -}}
{{- fail "smtp.caBundle holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA file itself, e.g. --set-file smtp.caBundle=ward-ca.pem" -}}
{{- end -}}
{{- end -}}
{{- end -}}
