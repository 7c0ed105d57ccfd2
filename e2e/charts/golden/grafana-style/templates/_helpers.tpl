{{- define "grafana.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The registry of an image: the global override, else the image's own. */}}
{{- define "grafana.imageRegistry" -}}
{{- $registry := .imageRoot.registry -}}
{{- if and .root.Values.global .root.Values.global.imageRegistry -}}
{{- $registry = .root.Values.global.imageRegistry -}}
{{- end -}}
{{- $registry -}}
{{- end -}}

{{- define "grafana.image" -}}
{{- $tag := .imageRoot.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" (include "grafana.imageRegistry" .) .imageRoot.repository $tag -}}
{{- end -}}

{{- define "grafana.imagePullSecrets" -}}
{{- $secrets := concat (.root.Values.global.imagePullSecrets | default list) .imagePullSecrets -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}
