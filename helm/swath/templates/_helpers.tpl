{{/*
Named helpers. Every object name, label set, image, env list and security context comes from here,
so the API, the pools and the migration Job cannot drift apart.
*/}}

{{/* The chart name, overridable like every Helm chart's. */}}
{{- define "swath.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-scoped base name. Truncated to 40 characters, not 63: pool objects append
"-orchestration" (14) and pool metrics Services "-orchestration-metrics" (22), and every name must
stay a 63-character DNS label.
*/}}
{{- define "swath.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else if contains (include "swath.name" .) .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "swath.name" .) | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels every object carries (Kubernetes' recommended set). */}}
{{- define "swath.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "swath.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: swath
{{- end }}

{{/*
Selector labels of one component ("api", "migrate" or a pool name). Selectors are immutable on a
Deployment, so they hold only what never changes: name, instance, component.
Call with (list $ "component").
*/}}
{{- define "swath.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "swath.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* All labels of one component's objects. Call with (list $ "component"). */}}
{{- define "swath.componentLabels" -}}
{{ include "swath.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "swath.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "swath.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image of a container; pools with a GPU run the CUDA build of the same release.
Call with (list $ gpuEnabled).
*/}}
{{- define "swath.image" -}}
{{- $root := index . 0 -}}
{{- $image := $root.Values.image -}}
{{- $tag := default $root.Chart.AppVersion $image.tag -}}
{{- if index . 1 }}
{{- $tag = default (printf "%s-cuda" $root.Chart.AppVersion) $image.cudaTag -}}
{{- end }}
{{- printf "%s:%s" (required "image.repository is required: where the images built from ops/docker were pushed" $image.repository) $tag }}
{{- end }}

{{/*
Where a credential lives: the user's existing Secret, or the chart's own Secret under a fixed key.
Call with (list $ section chartKey) and get a secretKeyRef body.
*/}}
{{- define "swath.secretKeyRef" -}}
{{- $root := index . 0 -}}
{{- $section := index . 1 -}}
{{- if $section.existingSecret -}}
name: {{ $section.existingSecret }}
key: {{ $section.existingSecretKey }}
{{- else -}}
name: {{ include "swath.fullname" $root }}
key: {{ index . 2 }}
{{- end }}
{{- end }}

{{/* Whether a credential is configured at all. Call with (list section inlineField). */}}
{{- define "swath.hasCredential" -}}
{{- $section := index . 0 -}}
{{- if or $section.existingSecret (index $section (index . 1)) }}true{{ end }}
{{- end }}

{{/* The database DSN; it must be given one way or the other (the embedded server is for one machine). */}}
{{- define "swath.databaseUrlRef" -}}
{{- if not (include "swath.hasCredential" (list .Values.database "url")) }}
{{- fail "database.url or database.existingSecret is required: Swath needs a PostgreSQL DSN with credentials" }}
{{- end }}
{{- include "swath.secretKeyRef" (list . .Values.database "database-url") }}
{{- end }}

{{/* Whether the Temporal connection uses TLS: explicitly, or implied by an API key. */}}
{{- define "swath.temporalTLS" -}}
{{- if or .Values.temporal.tls.enabled (include "swath.hasCredential" (list .Values.temporal.apiKey "value")) }}true{{ end }}
{{- end }}

{{/* Where the Temporal TLS Secret's files are mounted. */}}
{{- define "swath.temporalTLSDir" -}}/etc/swath/temporal-tls{{- end }}

{{/*
Secret-backed env of every long-running container: the DSN, S3 keys, the Temporal API key and the
JWT secret. They come from Secrets (never the ConfigMap) so `kubectl describe` never shows them.
*/}}
{{- define "swath.secretEnv" -}}
- name: SWATH_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "swath.databaseUrlRef" . | nindent 6 }}
{{- with .Values.blob.s3 }}
{{- if or .existingSecret .accessKeyId }}
- name: SWATH_BLOB_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ default (include "swath.fullname" $) .existingSecret }}
      key: {{ .accessKeyIdKey }}
- name: SWATH_BLOB_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ default (include "swath.fullname" $) .existingSecret }}
      key: {{ .secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- if include "swath.hasCredential" (list .Values.temporal.apiKey "value") }}
- name: SWATH_TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      {{- include "swath.secretKeyRef" (list . .Values.temporal.apiKey "temporal-api-key") | nindent 6 }}
{{- end }}
{{- if include "swath.hasCredential" (list .Values.auth.jwt "secret") }}
- name: SWATH_JWT_SECRET
  valueFrom:
    secretKeyRef:
      {{- include "swath.secretKeyRef" (list . .Values.auth.jwt "jwt-secret") | nindent 6 }}
{{- end }}
{{- end }}

{{/*
A component's own `env` map, as an env list (values are strings, as env vars are). A setting the
chart derives from its values is refused here as in `config`: an env var would override it in one
component only. Call with (list $ envMap).
*/}}
{{- define "swath.extraEnv" -}}
{{- $owned := include "swath.ownedConfig" (index . 0) | fromYaml }}
{{- range $name, $value := index . 1 }}
{{- if hasKey $owned $name }}
{{- fail (printf "env.%s is set by the chart from its own values; set it there (api.uploadMaxBytes for SWATH_UPLOAD_MAX_BYTES, temporal.* for SWATH_TEMPORAL_*, …)" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
Volumes every Swath pod mounts: /tmp (the root filesystem is read-only, and the image points HOME,
caches and SWATH_DATA_DIR there) and, with an existing TLS Secret, the Temporal certificates.
*/}}
{{- define "swath.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmp.sizeLimit | quote }}
{{- with .Values.temporal.tls }}
{{- if and .enabled .existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      {{- range $key := list .caKey .certKey .keyKey }}
      {{- if $key }}
      - key: {{ $key }}
        path: {{ $key }}
      {{- end }}
      {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "swath.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: {{ include "swath.temporalTLSDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Rolls every pod when the configuration or the chart's Secret changes. */}}
{{- define "swath.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/*
HTTP probes on a named port. Startup covers slow first loads (the inference pool's model) without
a long liveness delay that would slow restarts. Call with (list $ port livenessPath).
*/}}
{{- define "swath.probes" -}}
{{- $root := index . 0 -}}
{{- $port := index . 1 -}}
{{- $p := $root.Values.probes -}}
startupProbe:
  httpGet: {path: {{ index . 2 }}, port: {{ $port }}}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet: {path: {{ index . 2 }}, port: {{ $port }}}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ $port }}}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end }}

{{/* The Deployment name of a pool; the inference pool's contains "inference". Call with (list $ pool). */}}
{{- define "swath.poolName" -}}
{{- printf "%s-%s" (include "swath.fullname" (index . 0)) (index . 1) }}
{{- end }}

{{/*
The Temporal task queue a pool polls: its name (swath/temporal/queues.py), and whether its backlog
is workflow tasks (the orchestration pool) or activity tasks (every other pool).
*/}}
{{- define "swath.queueType" -}}
{{- if eq . "orchestration" }}workflow{{ else }}activity{{ end }}
{{- end }}

{{/* NetworkPolicy egress rules for a list of destination names, DNS always included. Call with (list $ names). */}}
{{- define "swath.egressRules" -}}
{{- $policy := (index . 0).Values.networkPolicy -}}
{{- range $name := prepend (index . 1) "dns" }}
{{- $dest := index $policy.egress $name }}
{{- $to := $dest.to | default list }}
{{- if eq $name "blobStore" }}
{{- range $cidr := $policy.blobStoreCIDRs }}
{{- $to = append $to (dict "ipBlock" (dict "cidr" $cidr)) }}
{{- end }}
{{- if not $to }}
{{- fail "networkPolicy.blobStoreCIDRs is empty and networkPolicy.egress.blobStore.to names nothing: the blob store rule would reach every address on its ports; set the blob store's CIDRs (or its selector in egress.blobStore.to)" }}
{{- end }}
{{- end }}
- ports:
    {{- toYaml $dest.ports | nindent 4 }}
  {{- with $to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
The settings the chart derives from its own values, as ConfigMap data. `config` may not repeat
one: a second SWATH_UPLOAD_MAX_BYTES would leave the Ingress's body limit disagreeing with the API's.
*/}}
{{- define "swath.ownedConfig" -}}
SWATH_MODE: {{ .Values.mode | quote }}
# Listen on every interface of the pod, not the loopback default.
SWATH_API_HOST: "0.0.0.0"
SWATH_API_PORT: "8000"
SWATH_POOL_HTTP_PORT: {{ .Values.poolHttpPort | quote }}
SWATH_POOL_HTTP_HOST: "0.0.0.0"
SWATH_LOG_FORMAT: {{ .Values.logFormat | quote }}
SWATH_DATA_DIR: /tmp/swath
# The upload cap; the Ingress's body-size annotation is derived from the same value.
SWATH_UPLOAD_MAX_BYTES: {{ include "swath.uploadMaxBytes" . | quote }}
{{- with .Values.api.publicUrl }}
SWATH_PUBLIC_URL: {{ . | quote }}
{{- end }}
SWATH_EMBEDDED_TEMPORAL: "false"
SWATH_EMBEDDED_POSTGRES: "false"
SWATH_TEMPORAL_ADDRESS: {{ .Values.temporal.address | quote }}
SWATH_TEMPORAL_NAMESPACE: {{ .Values.temporal.namespace | quote }}
{{- with .Values.temporal.uiUrl }}
SWATH_TEMPORAL_UI_URL: {{ . | quote }}
{{- end }}
{{- if include "swath.temporalTLS" . }}
SWATH_TEMPORAL_TLS: "true"
{{- end }}
{{- with .Values.temporal.tls }}
{{- if and .enabled .existingSecret }}
{{- if .caKey }}
SWATH_TEMPORAL_TLS_CA: {{ printf "%s/%s" (include "swath.temporalTLSDir" $) .caKey | quote }}
{{- end }}
{{- if .certKey }}
SWATH_TEMPORAL_TLS_CERT: {{ printf "%s/%s" (include "swath.temporalTLSDir" $) .certKey | quote }}
SWATH_TEMPORAL_TLS_KEY: {{ printf "%s/%s" (include "swath.temporalTLSDir" $) .keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
# The blob store (its keys, if any, come from the Secret).
SWATH_BLOB_URL: {{ required "blob.url is required: the s3://bucket/prefix every pod shares" .Values.blob.url | quote }}
{{- with .Values.blob.s3 }}
{{- if and (not (hasPrefix "s3://" $.Values.blob.url)) (or .endpoint .region .accessKeyId .existingSecret) }}
{{- fail "blob.s3.* apply to an s3:// blob.url only; GCS and Azure take their credentials from the pod's workload identity (serviceAccount.annotations)" }}
{{- end }}
{{- end }}
{{- with .Values.blob.s3.endpoint }}
SWATH_BLOB_ENDPOINT: {{ . | quote }}
{{- end }}
{{- with .Values.blob.s3.region }}
SWATH_BLOB_REGION: {{ . | quote }}
{{- end }}
{{- with .Values.auth.jwt }}
{{- if .algorithm }}
SWATH_JWT_ALGORITHM: {{ .algorithm | quote }}
SWATH_JWT_ISSUER: {{ required "auth.jwt.issuer is required with auth.jwt.algorithm" .issuer | quote }}
SWATH_JWT_AUDIENCE: {{ required "auth.jwt.audience is required with auth.jwt.algorithm" .audience | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The largest upload, in bytes, as an integer (YAML numbers reach templates as floats, which would
print as 8.589934592e+09).
*/}}
{{- define "swath.uploadMaxBytes" -}}
{{- int64 .Values.api.uploadMaxBytes }}
{{- end }}

{{/*
Ingress annotations for ingress-nginx, derived from api.uploadMaxBytes: by default the controller
refuses bodies over 1 MiB (413 before the API sees them), spools every body to its own disk before
proxying, and gives up on the API after 60 s without a read or write; an upload of several GiB
would meet all three. Other controllers ignore these annotations.
*/}}
{{- define "swath.nginxUploadAnnotations" -}}
{{- $timeout := .Values.api.ingress.proxyTimeoutSeconds | int64 | toString -}}
nginx.ingress.kubernetes.io/proxy-body-size: {{ include "swath.uploadMaxBytes" . | quote }}
nginx.ingress.kubernetes.io/proxy-request-buffering: "off"
nginx.ingress.kubernetes.io/proxy-read-timeout: {{ $timeout | quote }}
nginx.ingress.kubernetes.io/proxy-send-timeout: {{ $timeout | quote }}
{{- end }}
