{{- define "istiod.name" -}}
istiod{{ with .Values.global.revision }}-{{ . }}{{ end }}
{{- end }}

{{- define "istiod.rootNamespace" -}}
{{ .Values.meshConfig.rootNamespace | default .Release.Namespace }}
{{- end }}

{{- define "istiod.image" -}}
{{- if contains "/" .Values.image -}}
{{ .Values.image }}
{{- else -}}
{{ .Values.global.hub }}/{{ .Values.image }}:{{ .Values.global.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- /* The image of the waypoints the deployer creates (istiod-lite's --waypoint-image). */ -}}
{{- define "istiod.waypointImage" -}}
{{- if contains "/" .Values.deployer.waypointImage -}}
{{ .Values.deployer.waypointImage }}
{{- else -}}
{{ .Values.global.hub }}/{{ .Values.deployer.waypointImage }}:{{ .Values.global.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- define "istiod.selectorLabels" -}}
app: istiod
istio.io/rev: {{ .Values.global.revision | default "default" }}
{{- end }}

{{- define "istiod.labels" -}}
{{ include "istiod.selectorLabels" . }}
app.kubernetes.io/name: istiod-lite
app.kubernetes.io/part-of: ambit
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- /* The ValidatingWebhookConfiguration: WebhookConfiguration.name(service, namespace). */ -}}
{{- define "istiod.webhookConfigName" -}}
{{- /* trimSuffix: helm lint renders without a namespace */ -}}
{{ printf "%s-validator-%s" (include "istiod.name" .) .Release.Namespace | trimSuffix "-" }}
{{- end }}
