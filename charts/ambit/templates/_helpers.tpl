{{- /* The umbrella's own objects: the mesh view (dashboard.yaml). Named ambit.* so they never
       clash with the sub-charts' definitions (Helm shares one namespace of names). */ -}}
{{- define "ambit.dashboard.selectorLabels" -}}
app: ambit-dashboard
{{- end }}

{{- define "ambit.dashboard.labels" -}}
{{ include "ambit.dashboard.selectorLabels" . }}
app.kubernetes.io/name: dashboard
app.kubernetes.io/part-of: ambit
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "ambit.dashboard.image" -}}
{{- if contains "/" .Values.dashboard.image -}}
{{ .Values.dashboard.image }}
{{- else -}}
{{ .Values.global.hub }}/{{ .Values.dashboard.image }}:{{ .Values.global.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}
