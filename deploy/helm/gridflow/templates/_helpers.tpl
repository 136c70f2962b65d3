{{/* Names, labels and shared pod settings. Keep to the renderer's features (docs/deployment.md). */}}

{{- define "gridflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-gridflow, or the release name when it already contains the chart name. */}}
{{- define "gridflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "gridflow.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gridflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "gridflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gridflow
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "component" "engine"). */}}
{{- define "gridflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gridflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gridflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gridflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: (dict "root" $ "image" .Values.engine.image). */}}
{{- define "gridflow.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The engine's gRPC address as workers dial it: every replica, for client-side round robin. */}}
{{- define "gridflow.engineAddress" -}}
{{- printf "dns:///%s-engine-headless.%s.svc:%d" (include "gridflow.fullname" .) .Release.Namespace (int .Values.engine.port) -}}
{{- end -}}

{{/* Pod-level settings every Gridflow pod shares. */}}
{{- define "gridflow.podCommon" -}}
serviceAccountName: {{ include "gridflow.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}
