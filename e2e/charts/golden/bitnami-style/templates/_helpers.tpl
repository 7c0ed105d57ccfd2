{{/*
The full image reference of an image root: registry (or the global override), repository,
and the digest when one is set, else the tag (or the chart's appVersion).
Usage: {{ include "common.images.image" (dict "imageRoot" .Values.image "global" .Values.global "chart" .Chart) }}
*/}}
{{- define "common.images.image" -}}
{{- $registry := .imageRoot.registry -}}
{{- if and .global .global.imageRegistry -}}
{{- $registry = .global.imageRegistry -}}
{{- end -}}
{{- $ref := printf ":%s" (.imageRoot.tag | toString) -}}
{{- if not .imageRoot.tag -}}
{{- if .chart -}}
{{- $ref = printf ":%s" (.chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}
{{- if .imageRoot.digest -}}
{{- $ref = printf "@%s" (.imageRoot.digest | toString) -}}
{{- end -}}
{{- if $registry -}}
{{- printf "%s/%s%s" $registry .imageRoot.repository $ref -}}
{{- else -}}
{{- printf "%s%s" .imageRoot.repository $ref -}}
{{- end -}}
{{- end -}}

{{- define "bitnami-style.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
