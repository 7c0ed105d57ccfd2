{{/* Name of every object: nameOverride, else the chart name (Helm uses the alias when there is one). */}}
{{- define "portcullis-sdk.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis-sdk.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis-sdk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portcullis-sdk.labels" -}}
{{ include "portcullis-sdk.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* registry/repository:tag (the registry: image.registry, else the Portcullis host the chart came from), without "registry/" when neither is set. */}}
{{- define "portcullis-sdk.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- $registry := .Values.image.registry | default .Values.imageRegistry -}}
{{- if $registry -}}
{{- printf "%s/%s" (trimSuffix "/" $registry) $ref -}}
{{- else -}}
{{- $ref -}}
{{- end -}}
{{- end -}}

{{/* The SDK's config file (config.yaml in the Secret). */}}
{{- define "portcullis-sdk.config" -}}
{{- $replicated := (.Values.global | default dict).replicated | default dict -}}
{{- $config := dict
  "licenseID" ($replicated.licenseID | default "" | toString)
  "license" .Values.license
  "licenseFields" (.Values.licenseFields | default dict)
  "publicKey" .Values.publicKey
  "appName" .Values.appName
  "appSlug" .Values.appSlug
  "channelID" .Values.channelID
  "channelName" .Values.channelName
  "channelSequence" (.Values.channelSequence | int64)
  "releaseSequence" (.Values.releaseSequence | int64)
  "versionLabel" (.Values.versionLabel | default "" | toString)
  "releaseCreatedAt" .Values.releaseCreatedAt
  "releaseNotes" .Values.releaseNotes
  "parentChartURL" .Values.parentChartURL
  "portcullisEndpoint" (.Values.portcullisEndpoint | default .Values.replicatedAppEndpoint)
  "releaseImages" (.Values.releaseImages | default list)
  "isAirgap" (.Values.isAirgap | default false)
  "reportInterval" (.Values.reportInterval | default "4h" | toString)
  "instanceID" .Values.instanceID
-}}
{{- toYaml $config -}}
{{- end -}}
