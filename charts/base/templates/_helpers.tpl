{{- define "base.labels" -}}
app.kubernetes.io/name: ambit-base
app.kubernetes.io/part-of: ambit
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.global.revision }}
istio.io/rev: {{ . }}
{{- end }}
{{- end }}
