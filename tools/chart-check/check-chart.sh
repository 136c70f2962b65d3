#!/usr/bin/env bash
# Checks deploy/helm/gridflow for real, without helm or a cluster (both absent here):
#   1. renders the chart with its default values and every examples/*.yaml, the way `helm template`
#      does (tools/helm-render: Go text/template, Debian's Sprig, Helm's objects and functions),
#      which also validates the merged values against values.schema.json;
#   2. validates every rendered manifest offline (validate.mjs: Kubernetes schemas, unknown
#      fields, the chart's own rules);
#   3. proves the checks bite: broken values and deliberately broken copies of the chart must fail.
# Usage: check-chart.sh [WORK_DIR]   (default: a temporary folder; removed at the end)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART=$ROOT/deploy/helm/gridflow
TOOL=$ROOT/tools/chart-check
WORK=${1:-}
if [[ -z $WORK ]]; then
  WORK=$(mktemp -d /tmp/gridflow-chart-check.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

echo "== building helm-render"
# GOPATH mode: the libraries are Debian's golang-*-dev packages under /usr/share/gocode.
(cd "$ROOT/tools/helm-render" &&
  GO111MODULE=off GOPATH="$WORK/gopath:/usr/share/gocode" GOCACHE="$WORK/gocache" \
    go build -o "$WORK/helm-render" .)
RENDER=$WORK/helm-render

echo "== installing the validator's npm packages (pinned by package-lock.json)"
if ! cmp -s "$TOOL/package-lock.json" "$TOOL/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$TOOL" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$TOOL/package-lock.json" "$TOOL/node_modules/.package-lock.json.installed"
fi
validate() { node "$TOOL/validate.mjs" "$@"; }

failures=0
pass() { echo "  ok    $*"; }
failed() {
  echo "  FAIL  $*"
  failures=$((failures + 1))
}

echo "== rendering and validating"
cases=("")
for f in "$CHART"/examples/*.yaml; do cases+=("$f"); done
for values in "${cases[@]}"; do
  name=${values:+$(basename "$values")}
  name=${name:-values.yaml}
  out=$WORK/rendered-$name
  args=(--chart "$CHART" --release gridflow --namespace trading --notes)
  args+=(--api-versions monitoring.coreos.com/v1)
  [[ -n $values ]] && args+=(-f "$values")
  if ! "$RENDER" "${args[@]}" >"$out" 2>"$out.notes"; then
    cat "$out.notes"
    failed "$name: rendering"
    continue
  fi
  if ! grep -q "gridflowctl" "$out.notes"; then failed "$name: NOTES.txt rendered empty"; fi
  if report=$(validate "$out" 2>&1); then
    pass "$name: $report"
  else
    echo "$report"
    failed "$name: validation"
  fi
done

# The same release twice with different names must not collide, and names must follow the release.
"$RENDER" --chart "$CHART" --release desk-b --namespace trading >"$WORK/desk-b.yaml"
if grep -q "name: desk-b-gridflow-engine$" "$WORK/desk-b.yaml"; then
  pass "names follow the release name"
else
  failed "names do not follow the release name"
fi

if python3 "$TOOL/values-table.py" "$CHART/values.yaml" --check "$CHART/README.md"; then
  pass "the README's values table matches values.yaml"
else
  failed "the README's values table is out of date"
fi

echo "== the checks catch mistakes"
expect_failure() { # description, expected message, command...
  local what=$1 expected=$2
  shift 2
  local output
  if output=$("$@" 2>&1); then
    failed "$what: accepted"
  elif ! grep -qF -- "$expected" <<<"$output"; then
    echo "$output" | head -5
    failed "$what: failed without saying '$expected'"
  else
    pass "$what"
  fi
}
bad_values() { # file content → path
  local path=$WORK/bad-$RANDOM.yaml
  printf '%s\n' "$1" >"$path"
  echo "$path"
}
expect_failure "values of the wrong type" "engine.replicas: Invalid type" \
  "$RENDER" --chart "$CHART" -f "$(bad_values $'engine:\n  replicas: "three"')"
expect_failure "unknown values keys" "Additional property replica is not allowed" \
  "$RENDER" --chart "$CHART" -f "$(bad_values $'engine:\n  replica: 3')"
expect_failure "a grace period shorter than the drain" "must exceed" \
  "$RENDER" --chart "$CHART" -f "$(bad_values $'engine:\n  terminationGracePeriodSeconds: 10')"
expect_failure "tokens without TLS" "needs tls.enabled" \
  "$RENDER" --chart "$CHART" -f "$(bad_values $'auth:\n  tokensSecret: t')"
expect_failure "a Kubernetes older than the chart supports" "incompatible with Kubernetes" \
  "$RENDER" --chart "$CHART" --kube-version 1.24.0
expect_failure "handlers on the bare worker image" "holds only the worker binary" \
  "$RENDER" --chart "$CHART" -f "$(bad_values $'workers:\n  - name: w\n    image:\n      repository: registry.example.com/gridflow/gridflow-worker\n      tag: ""\n    replicas: 1\n    queues: [q]\n    concurrency: 1\n    handlers:\n      t: "python3 /h.py"\n    shutdownGraceSeconds: 25\n    terminationGracePeriodSeconds: 35\n    metricsPort: 9465\n    logLevel: info\n    logFormat: json\n    extraArgs: []\n    extraEnv: []\n    resources: {}\n    autoscaling:\n      enabled: false\n      minReplicas: 1\n      maxReplicas: 2\n      targetCPUUtilizationPercentage: 70\n    podDisruptionBudget:\n      enabled: true\n      maxUnavailable: 1\n    podAnnotations: {}\n    podLabels: {}\n    nodeSelector: {}\n    tolerations: []')"
expect_failure "a missing database secret" "database.existingSecret: String length" \
  "$RENDER" --chart "$CHART" -f "$(bad_values $'database:\n  existingSecret: ""')"

WORKER_BASE=$'workers:\n  - name: w\n    image:\n      repository: energy/w\n    queues: [q]\n    concurrency: 1\n    handlers:\n      t: "x"\n    shutdownGraceSeconds: 25\n    terminationGracePeriodSeconds: 35\n    metricsPort: 9465\n    podDisruptionBudget:\n      enabled: true\n      maxUnavailable: 1\n    autoscaling:\n      enabled: true'
expect_failure "scale to zero without KEDA" "minReplicas 0 needs metric keda" \
  "$RENDER" --chart "$CHART" -f "$(bad_values "$WORKER_BASE"$'\n      metric: queue\n      minReplicas: 0\n      maxReplicas: 3')"
expect_failure "KEDA without Prometheus" "prometheusAddress is required" \
  "$RENDER" --chart "$CHART" -f "$(bad_values "$WORKER_BASE"$'\n      metric: keda\n      minReplicas: 0\n      maxReplicas: 3\n      prometheusAddress: ""')"
expect_failure "an unknown autoscaling metric" "autoscaling.metric" \
  "$RENDER" --chart "$CHART" -f "$(bad_values "$WORKER_BASE"$'\n      metric: memory\n      maxReplicas: 3')"

# Broken copies of the chart: a template typo, a misspelt field, a wrong type, a broken reference.
mutant() { # sed expression, template file → rendered output of a broken copy of the chart
  local copy=$WORK/mutant-$RANDOM
  cp -rL "$CHART" "$copy"
  sed -i "$1" "$copy/templates/$2"
  if cmp -s "$CHART/templates/$2" "$copy/templates/$2"; then
    echo "mutation '$1' changed nothing in $2" >&2
    return 1
  fi
  "$RENDER" --chart "$copy" -f "$CHART/examples/values-production.yaml" \
    --api-versions monitoring.coreos.com/v1 >"$copy.yaml" && validate "$copy.yaml"
}
expect_failure "a template syntax error" "unexpected" \
  mutant 's/{{ \$e.replicas }}/{{ $e.replicas }/' engine-deployment.yaml
expect_failure "a misspelt field" "readinesProbe: unknown field" \
  mutant 's/readinessProbe:/readinesProbe:/' engine-deployment.yaml
expect_failure "a field of the wrong type" "containerPort must be integer" \
  mutant 's/containerPort: {{ $e.port }}/containerPort: "{{ $e.port }}"/' engine-deployment.yaml
expect_failure "a missing required field" "must have required property containers" \
  mutant 's/^      containers:/      containerz:/' workers.yaml
expect_failure "a mount of an undefined volume" "mounts undefined volume" \
  mutant 's/^        - name: tmp$/        - name: scratch/' workers.yaml
expect_failure "a Service port naming no container port" "targetPort grpc" \
  mutant 's/- name: grpc$/- name: api/' engine-deployment.yaml
expect_failure "an autoscaler of a Deployment not in the chart" "which is not in the chart" \
  mutant 's/^    name: {{ $fullname }}-{{ $component }}$/    name: {{ $fullname }}-{{ $component }}x/' workers.yaml
expect_failure "a selector that matches no pod" "selects no pods" \
  mutant 's/"component" "engine") | nindent 6/"component" "engin") | nindent 6/' engine-pdb.yaml
expect_failure "a privileged container" "allowPrivilegeEscalation must be false" \
  mutant 's/{{- toYaml .Values.containerSecurityContext | nindent 12 }}/{}/' engine-deployment.yaml
expect_failure "an undefined helper" 'no template "gridflow.label"' \
  mutant 's/gridflow.labels/gridflow.label/' engine-pdb.yaml

if ((failures > 0)); then
  echo "chart check: $failures failure(s)"
  exit 1
fi
echo "chart check: all passed"
