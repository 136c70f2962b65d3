{{- define "gridflow.fullname" -}}
{{- printf "%s-gridflow" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridflow.labels" -}}
app.kubernetes.io/name: gridflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gridflow.engineSelector" -}}
app.kubernetes.io/name: gridflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: engine
{{- end -}}
