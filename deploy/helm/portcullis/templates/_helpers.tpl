{{- define "portcullis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portcullis.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Shared mode: PostgreSQL and a bucket. Several replicas need it. */}}
{{- define "portcullis.shared" -}}
{{- if or .Values.database.existingSecret .Values.blobStore.url -}}true{{- end -}}
{{- end -}}

{{- define "portcullis.validate" -}}
{{- $shared := include "portcullis.shared" . -}}
{{- if and $shared (not (and .Values.database.existingSecret .Values.blobStore.url)) -}}
{{- fail "database.existingSecret and blobStore.url go together: replicas share PostgreSQL and a bucket" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not $shared) -}}
{{- fail "replicaCount > 1 needs database.existingSecret and blobStore.url (the embedded SQLite and volume serve one replica)" -}}
{{- end -}}
{{- if and $shared (not .Values.secretKey.existingSecret) -}}
{{- fail "secretKey.existingSecret is required with PostgreSQL: every replica must hold the same key (portcullis keygen)" -}}
{{- end -}}
{{- end -}}

{{- define "portcullis.scheme" -}}
{{- if .Values.tls.secretName -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}
