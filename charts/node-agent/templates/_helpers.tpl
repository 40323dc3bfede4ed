{{- define "nodeAgent.image" -}}
{{- if contains "/" .Values.image -}}
{{ .Values.image }}
{{- else -}}
{{ .Values.global.hub }}/{{ .Values.image }}:{{ .Values.global.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- /* The host's cgroup v2 mount: the value, else the platform's, else /sys/fs/cgroup. */ -}}
{{- define "nodeAgent.cgroupRoot" -}}
{{- if .Values.cgroupRoot -}}
{{ .Values.cgroupRoot }}
{{- else -}}
{{- /* k3s, GKE (COS, Ubuntu) and EKS (AL2023, Bottlerocket) all mount cgroup v2 at
       /sys/fs/cgroup; EKS' Amazon Linux 2 nodes have cgroup v1 only, which the agent
       cannot use: the precheck says so. */ -}}
/sys/fs/cgroup
{{- end -}}
{{- end }}

{{- /* The host's CNI folders: the value, else the platform's (as Istio's cni chart), else the usual. */ -}}
{{- define "nodeAgent.cniBinDir" -}}
{{- if .Values.cni.binDir -}}
{{ .Values.cni.binDir }}
{{- else if eq .Values.global.platform "k3s" -}}
/var/lib/rancher/k3s/data/current/bin
{{- else if eq .Values.global.platform "gke" -}}
/home/kubernetes/bin
{{- else -}}
/opt/cni/bin
{{- end -}}
{{- end }}

{{- define "nodeAgent.cniConfDir" -}}
{{- if .Values.cni.confDir -}}
{{ .Values.cni.confDir }}
{{- else if eq .Values.global.platform "k3s" -}}
/var/lib/rancher/k3s/agent/etc/cni/net.d
{{- else -}}
/etc/cni/net.d
{{- end -}}
{{- end }}

{{- define "nodeAgent.selectorLabels" -}}
app: ambit-node-agent
{{- end }}

{{- define "nodeAgent.labels" -}}
{{ include "nodeAgent.selectorLabels" . }}
app.kubernetes.io/name: node-agent
app.kubernetes.io/part-of: ambit
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.global.revision }}
istio.io/rev: {{ . }}
{{- end }}
{{- end }}
