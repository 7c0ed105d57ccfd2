{{- define "grafana.pod" -}}
{{- include "grafana.imagePullSecrets" (dict "root" $ "imagePullSecrets" .Values.imagePullSecrets) }}
serviceAccountName: {{ include "grafana.fullname" . }}
{{- if or .Values.sidecar.dashboards.enabled .Values.sidecar.datasources.enabled }}
initContainers:
  - name: grafana-sc-datasources
    image: {{ include "grafana.image" (dict "root" $ "imageRoot" .Values.sidecar.image) | quote }}
{{- end }}
containers:
  {{- if .Values.sidecar.dashboards.enabled }}
  - name: grafana-sc-dashboard
    image: {{ include "grafana.image" (dict "root" $ "imageRoot" .Values.sidecar.image) | quote }}
  {{- end }}
  - name: grafana
    image: {{ include "grafana.image" (dict "root" $ "imageRoot" .Values.image) | quote }}
    ports:
      - name: grafana
        containerPort: 3000
{{- end }}
