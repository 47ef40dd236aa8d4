{{/*
Names, labels and small computed values shared by the templates.
*/}}

{{/* The chart name, or nameOverride. Kubernetes names stop at 63 characters. */}}
{{- define "stream-webhooks.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<name>", or the release name alone when it already contains the name. */}}
{{- define "stream-webhooks.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "stream-webhooks.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "stream-webhooks.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods: they must never change between releases. */}}
{{- define "stream-webhooks.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stream-webhooks.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The standard labels on every object. */}}
{{- define "stream-webhooks.labels" -}}
helm.sh/chart: {{ include "stream-webhooks.chart" . }}
{{ include "stream-webhooks.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: webhook-receiver
app.kubernetes.io/part-of: stream-webhooks
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "stream-webhooks.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stream-webhooks.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret that holds the webhook secret: the user's, or the one this chart creates. */}}
{{- define "stream-webhooks.secretName" -}}
{{- if .Values.webhook.existingSecret }}
{{- .Values.webhook.existingSecret }}
{{- else }}
{{- include "stream-webhooks.fullname" . }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "stream-webhooks.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The service.name of traces. */}}
{{- define "stream-webhooks.serviceName" -}}
{{- default (include "stream-webhooks.fullname" .) .Values.telemetry.serviceName }}
{{- end }}

{{/*
A duration as the service writes it ("250ms", "5s", "10m", "1h") in seconds, as a float.
The schema restricts durations to these forms.
*/}}
{{- define "stream-webhooks.seconds" -}}
{{- $d := toString . }}
{{- if hasSuffix "ms" $d }}
{{- divf (trimSuffix "ms" $d | float64) 1000.0 }}
{{- else if hasSuffix "s" $d }}
{{- trimSuffix "s" $d | float64 }}
{{- else if hasSuffix "m" $d }}
{{- mulf (trimSuffix "m" $d | float64) 60.0 }}
{{- else if hasSuffix "h" $d }}
{{- mulf (trimSuffix "h" $d | float64) 3600.0 }}
{{- else }}
{{- fail (printf "%q is not a duration such as 250ms, 5s, 10m or 1h" $d) }}
{{- end }}
{{- end }}

{{/* Fails the render when Kubernetes would kill pods before the service's own shutdown ends. */}}
{{- define "stream-webhooks.checkGracePeriod" -}}
{{- $delay := include "stream-webhooks.seconds" .Values.server.shutdownDelay | float64 }}
{{- $timeout := include "stream-webhooks.seconds" .Values.server.shutdownTimeout | float64 }}
{{- $grace := .Values.terminationGracePeriodSeconds | float64 }}
{{- if le $grace (addf $delay $timeout) }}
{{- $msg := "terminationGracePeriodSeconds (%v) must exceed %s (%vs)" }}
{{- $sum := "server.shutdownDelay + server.shutdownTimeout" }}
{{- fail (printf $msg $grace $sum (addf $delay $timeout)) }}
{{- end }}
{{- end }}

{{/*
OTEL_RESOURCE_ATTRIBUTES: where the pod runs, then the user's attributes. $(VAR) is expanded by
Kubernetes from the downward-API variables defined before it.
*/}}
{{- define "stream-webhooks.resourceAttributes" -}}
{{- $attrs := list
  "k8s.namespace.name=$(POD_NAMESPACE)"
  "k8s.pod.name=$(POD_NAME)"
  "k8s.node.name=$(NODE_NAME)" }}
{{- range $key, $value := .Values.telemetry.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $attrs }}
{{- end }}
