{{/*
The chart name, or nameOverride.
*/}}
{{- define "agenttask-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, or "<release>-<chart>", or just the
release name when it already contains the chart name. Also names the Service, the
ValidatingWebhookConfiguration and the kopf peering object.
*/}}
{{- define "agenttask-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"name-version" for the helm.sh/chart label.
*/}}
{{- define "agenttask-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels every object of the chart carries (the operator's objects; the receiver's have
component "receiver").
*/}}
{{- define "agenttask-operator.labels" -}}
{{ include "agenttask-operator.selectorLabels" . }}
{{ include "agenttask-operator.sharedLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
The labels of every object and pod of the chart, whichever component.
*/}}
{{- define "agenttask-operator.sharedLabels" -}}
helm.sh/chart: {{ include "agenttask-operator.chart" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agenttasks
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The labels of the split receiver's objects: the chart's, with component "receiver".
*/}}
{{- define "agenttask-operator.receiverLabels" -}}
{{ include "agenttask-operator.selectorLabels" . }}
{{ include "agenttask-operator.sharedLabels" . }}
app.kubernetes.io/component: receiver
{{- end }}

{{/*
The labels that select the receiver's pods. Their name differs from the operator pods' so
that no selector of the operator (its Deployment's is immutable; its Service, PDB and
NetworkPolicy) ever matches a receiver pod.
*/}}
{{- define "agenttask-operator.receiverSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-receiver" (include "agenttask-operator.name" . | trunc 54 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The receiver's name: its Deployment, Service, ServiceAccount and RBAC objects.
*/}}
{{- define "agenttask-operator.receiverName" -}}
{{- printf "%s-receiver" (include "agenttask-operator.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/*
The audience of the token the receiver presents to the operator: a projected token good
for nothing else (not for the API server), so one seen in transit cannot act as the receiver.
*/}}
{{- define "agenttask-operator.receiverAudience" -}}
agenttasks-operator
{{- end }}

{{/*
Where the receiver's token for the operator is mounted.
*/}}
{{- define "agenttask-operator.receiverTokenDir" -}}
/var/run/secrets/agenttasks.io/operator
{{- end }}

{{/*
The receiver's RBAC rules, in both modes: what answering a delivery needs and no more. It
cannot create Jobs or pods, list or write Secrets, write status or post Events.
*/}}
{{- define "agenttask-operator.receiverRules" -}}
# The triggers it serves (listed and watched into its index).
- apiGroups: ["agenttasks.io"]
  resources: ["agenttasktriggers"]
  verbs: ["get", "list", "watch"]
# A delivery's task: created, found again by name (a retried delivery), listed by label (a
# github redelivery after the body's window), and deleted only when it was just created and
# its payload ConfigMap's name is taken by someone else's (its Job must never mount that).
- apiGroups: ["agenttasks.io"]
  resources: ["agenttasks"]
  verbs: ["get", "list", "create", "delete"]
# The payload ConfigMap; read only when its create conflicts, to check whose it is.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get"]
# The triggers' signing secrets, by name: no list or watch, so it reads only those named.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}

{{/*
The receiver's arguments (`agenttasks receiver`), one list item each.
*/}}
{{- define "agenttask-operator.receiverArgs" -}}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
- --http-port={{ int .Values.httpPort }}
- --operator-url=http://{{ include "agenttask-operator.fullname" . }}.{{ .Release.Namespace }}.svc:{{ int .Values.service.port }}
- --operator-token-file={{ include "agenttask-operator.receiverTokenDir" . }}/token
{{- if not (kindIs "invalid" .Values.metricsPort) }}
- --metrics-port={{ int .Values.metricsPort }}
{{- end }}
{{- end }}

{{/*
The labels that select the operator pods (immutable in a Deployment: keep them few).
*/}}
{{- define "agenttask-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agenttask-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "agenttask-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agenttask-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image, with the tag defaulting to the chart's appVersion.
*/}}
{{- define "agenttask-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
"true" when the operator watches the whole cluster (no watchNamespaces), else "".
*/}}
{{- define "agenttask-operator.clusterwide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
"true" when the pods use kopf peering: more than one replica, or peering.enabled.
*/}}
{{- define "agenttask-operator.peering" -}}
{{- if or (gt (int .Values.replicas) 1) .Values.peering.enabled }}true{{ end }}
{{- end }}

{{/*
Where the webhook certificate is mounted in the operator container.
*/}}
{{- define "agenttask-operator.webhookCertDir" -}}
/etc/agenttasks/webhook
{{- end }}

{{/*
Whether the operator serves HTTPS for the API server (the admission webhook, the visibility
API): both use the one serving certificate of the Service, from the same Secret.
*/}}
{{- define "agenttask-operator.servesTLS" -}}
{{- if or .Values.admissionWebhook.enabled .Values.visibilityAPI.enabled }}true{{ end }}
{{- end }}

{{/*
The Secret with the webhook's (and the visibility API's) serving certificate and its CA.
*/}}
{{- define "agenttask-operator.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "agenttask-operator.fullname" .) }}
{{- end }}

{{/*
The operator's RBAC rules: the ONLY definition, used by the ClusterRole (cluster-wide mode) and
by every Role (namespaced mode), so that the two modes cannot drift apart. Every verb is
spelled out; no wildcards.

Call with a dict:
  clusterwide: "true" or ""  - add what only a cluster-wide operator needs
  peering:     "true" or ""  - add kopf's peering objects (cluster or namespaced kind)
*/}}
{{- define "agenttask-operator.rbacRules" -}}
# The operator's own kinds: it creates AgentTasks for schedules, triggers and dashboard
# reruns, patches and deletes them (history limits, cancellation, dashboard pause/resume/
# cancel), patches schedules only for the dashboard's run-now (an annotation), and only
# reads triggers. Dashboard actions are made only after a SubjectAccessReview allowed them
# to the signed-in user.
- apiGroups: ["agenttasks.io"]
  resources: ["agenttasks"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["agenttasks.io"]
  resources: ["agenttaskschedules"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["agenttasks.io"]
  resources: ["agenttasktriggers"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["agenttasks.io"]
  resources: ["agenttasks/status", "agenttaskschedules/status", "agenttasktriggers/status"]
  verbs: ["patch"]
# The Jobs that run each AgentTask attempt.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Kueue's Workloads, of tasks that name a LocalQueue (spec.kueue): pausing and resuming such
# a task sets its Job's Workload's spec.active. Harmless without Kueue installed.
- apiGroups: ["kueue.x-k8s.io"]
  resources: ["workloads"]
  verbs: ["list", "patch"]
# Events on our objects (listed for the dashboard's task page, after a review allowed it);
# trigger payloads stored in ConfigMaps; trigger signing secrets.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Pods of the attempts' Jobs: listed for the finished attempt's termination message
# (status.result); read by name for the pod a progress report's token was bound to.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
{{- if .peering }}
# kopf peering: which of the operator pods is active.
- apiGroups: ["kopf.dev"]
  resources: [{{ if .clusterwide }}"clusterkopfpeerings"{{ else }}"kopfpeerings"{{ end }}]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- if .clusterwide }}
# Cluster-wide only: kopf lists and watches namespaces to resolve namespace patterns.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{ include "agenttask-operator.reviewRules" . }}
{{- end }}
{{- end }}

{{/*
The reviews: who a bearer token belongs to (TokenReview, for the dashboard) and whether a
user may do a given thing (SubjectAccessReview: the dashboard's reads and actions, and the
admission webhook's check that a template's writer may create its Job and use its
ServiceAccount). Both kinds are cluster-scoped, so in namespaced mode these rules get a
small ClusterRole of their own. They let the operator ask questions, not act: a review
grants nothing.
*/}}
{{- define "agenttask-operator.reviewRules" -}}
# TokenReviews for the dashboard; SubjectAccessReviews for the dashboard and admission.
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end }}

{{/*
The webhook's TLS material as YAML (ca.crt, tls.crt, tls.key; PEM). Reuses the existing Secret
on upgrade (lookup), so certificates do not change on every `helm upgrade`; otherwise a new CA
and a serving certificate for the Service's DNS names, valid ten years.
With `helm template` or --dry-run, lookup finds nothing and new ones are generated each time.
*/}}
{{- define "agenttask-operator.webhookTLS" -}}
{{- $secretName := include "agenttask-operator.webhookSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- $data := dict }}
{{- if $existing }}{{ $data = $existing.data | default dict }}{{ end }}
{{- if and (hasKey $data "ca.crt") (hasKey $data "tls.crt") (hasKey $data "tls.key") }}
ca.crt: {{ index $data "ca.crt" | b64dec | quote }}
tls.crt: {{ index $data "tls.crt" | b64dec | quote }}
tls.key: {{ index $data "tls.key" | b64dec | quote }}
{{- else }}
{{- $service := include "agenttask-operator.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $cn := printf "%s.%s.svc" $service $ns }}
{{- $names := list $service (printf "%s.%s" $service $ns) $cn (printf "%s.cluster.local" $cn) }}
{{- $ca := genCA (printf "%s-webhook-ca" $service) 3650 }}
{{- $cert := genSignedCert $cn nil $names 3650 $ca }}
ca.crt: {{ $ca.Cert | quote }}
tls.crt: {{ $cert.Cert | quote }}
tls.key: {{ $cert.Key | quote }}
{{- end }}
{{- end }}

{{/*
The flags of `agenttasks operator`, one list item each.
*/}}
{{- define "agenttask-operator.args" -}}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
- --http-port={{ int .Values.httpPort }}
- --workers={{ int .Values.workers }}
- --max-running={{ int .Values.maxRunning }}
{{- if not (kindIs "invalid" .Values.maxRunningPerNamespace) }}
- --max-running-per-namespace={{ int .Values.maxRunningPerNamespace }}
{{- end }}
{{- range $namespace, $weight := .Values.namespaceWeights }}
- --namespace-weight={{ $namespace }}={{ int $weight }}
{{- end }}
{{- if .Values.priorityAging }}
- --priority-aging={{ .Values.priorityAging }}
{{- end }}
{{- $ttl := (.Values.tasks | default dict).defaultTTLAfterFinished }}
{{- if and (not (kindIs "invalid" $ttl)) (ne (toString $ttl) "") }}
- --default-ttl-after-finished={{ $ttl }}
{{- end }}
- --plan={{ .Values.plan }}
- --progress-url=http://{{ include "agenttask-operator.fullname" . }}.{{ .Release.Namespace }}.svc:{{ int .Values.service.port }}
{{- if include "agenttask-operator.peering" . }}
- --peering={{ include "agenttask-operator.fullname" . }}
{{- end }}
{{- if .Values.admissionWebhook.enabled }}
- --admission-port={{ int .Values.admissionWebhook.port }}
- --admission-cert-dir={{ include "agenttask-operator.webhookCertDir" . }}
{{- if not .Values.admissionWebhook.checkWriterRights }}
- --no-writer-rights-check
{{- end }}
{{- end }}
{{- if .Values.visibilityAPI.enabled }}
- --visibility-port={{ int .Values.visibilityAPI.port }}
- --visibility-cert-dir={{ include "agenttask-operator.webhookCertDir" . }}
{{- end }}
{{- if .Values.dashboard.readOnlyWithoutToken }}
- --dashboard-read-only
{{- end }}
{{- range .Values.dashboard.tokenAudiences }}
- {{ printf "--dashboard-token-audience=%s" . | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.metricsPort) }}
- --metrics-port={{ int .Values.metricsPort }}
{{- end }}
{{- if .Values.receiver.split }}
- --no-hooks
- --receiver-user=system:serviceaccount:{{ .Release.Namespace }}:{{ include "agenttask-operator.receiverName" . }}
- --receiver-audience={{ include "agenttask-operator.receiverAudience" . }}
{{- end }}
{{- end }}
