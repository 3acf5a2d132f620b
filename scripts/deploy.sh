#!/usr/bin/env bash
# Deploys Herald: renders a kustomize overlay with the given image, applies it, waits for every
# Deployment in it to roll out within a deadline, then checks /readyz and, optionally, the
# delivery SLO in Prometheus. If any step fails, every Deployment that existed before is rolled
# back to the revision it had, and the script fails.
#
#   scripts/deploy.sh OVERLAY IMAGE     e.g. k8s/overlays/prod ghcr.io/herald-dev/herald:<sha>
#
# Settings (environment):
#   DEPLOY_NAMESPACE       deploy into this namespace instead of the overlay's (previews)
#   DEPLOY_INGRESS_HOST    add an Ingress routing this host to the API (previews)
#   DEPLOY_HEALTH_URL      base URL whose /readyz must answer 2xx after the rollout
#   DEPLOY_PROMETHEUS_URL  Prometheus to ask whether deliveries burn the error budget
#   DEPLOY_SLO_QUERY       PromQL that must return no series (default: the fast-burn threshold)
#   DEPLOY_BAKE_SECONDS    wait before asking Prometheus, so its 5m window sees the new pods (60)
#   DEPLOY_TIMEOUT         deadline of each rollout and of the health check, in seconds (300)
#   DEPLOY_ROLLBACK        1 to roll back on failure (default), 0 to leave things as they are
#   DEPLOY_DRY_RUN         1: print the rendered manifests and the plan; no cluster is contacted
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

[ $# -eq 2 ] || die "usage: $0 OVERLAY IMAGE"
overlay=$(cd "$1" && pwd) || die "no overlay at $1"
image=$2
namespace=${DEPLOY_NAMESPACE:-}
ingress_host=${DEPLOY_INGRESS_HOST:-}
health_url=${DEPLOY_HEALTH_URL:-}
prometheus_url=${DEPLOY_PROMETHEUS_URL:-}
# The fast-burn page threshold of k8s/monitoring/herald-slo.yaml: 14.4 x a 0.1% budget.
slo_query=${DEPLOY_SLO_QUERY:-'herald:delivery_sli_error_ratio:rate5m > (14.4 * 0.001)'}
bake=${DEPLOY_BAKE_SECONDS:-60}
timeout=${DEPLOY_TIMEOUT:-300}
rollback=${DEPLOY_ROLLBACK:-1}
dry_run=${DEPLOY_DRY_RUN:-0}

# Image name and tag (or digest); a registry port's colon comes before the last slash.
case "${image##*/}" in
  *@*) image_name=${image%@*} image_field="digest: ${image#*@}" ;;
  *:*) image_name=${image%:*} image_field="newTag: ${image##*:}" ;;
  *) die "image $image has neither tag nor digest: deploy an exact build" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A throwaway kustomization on top of the overlay sets the image (what `kustomize edit set
# image` would write) without touching the checked-in overlay. Given a namespace, it also
# labels everything with it, so what is cluster-wide can be found again at teardown.
kustomization() {
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - $(realpath --relative-to="$work" "$overlay")"
  [ -z "$ingress_host" ] || echo "  - ingress.yaml"
  echo "images:"
  echo "  - name: $image_name"
  echo "    $image_field"
  [ -n "$namespace" ] || return 0
  echo "namespace: $namespace"
  echo "labels:"
  echo "  - pairs: {herald.dev/instance: $namespace}"
}

# The public way in for a preview: the host, on the cluster's default ingress class, to the
# API's port. TLS is the ingress controller's business (a wildcard default certificate).
ingress() {
  cat <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: herald-ingest
spec:
  rules:
    - host: $ingress_host
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: herald-ingest
                port: {name: http}
EOF
}

render() {
  kustomization >"$work/kustomization.yaml"
  [ -z "$ingress_host" ] || ingress >"$work/ingress.yaml"
  kubectl kustomize "$work" >"$work/manifests.yaml"
  [ -n "$namespace" ] || return 0
  # kustomize moves objects, not the service addresses written into settings
  # (http://herald-ingest.herald-system.svc:8080): point those at the new namespace too. And
  # one ClusterRoleBinding per namespace, or each install would take the operator's rights
  # from the one before.
  local own
  own=$(kubectl kustomize "$overlay" | awk '/^kind: Namespace$/ { ns = 1 } ns && !found && /^  name: / { print $2; found = 1 }')
  [ -z "$own" ] || sed -i "s/\.$own\.svc\b/.$namespace.svc/g" "$work/manifests.yaml"
  awk -v suffix="-$namespace" '
    /^---/ { kind = "" }
    /^kind: / { kind = $2 }
    kind == "ClusterRoleBinding" && /^  name: / { $0 = $0 suffix; kind = "" }
    { print }
  ' "$work/manifests.yaml" >"$work/isolated.yaml"
  mv "$work/isolated.yaml" "$work/manifests.yaml"
}

# "namespace name" of every Deployment. kustomize prints keys sorted, so within a document
# metadata.name and metadata.namespace come before spec.
deployments() {
  awk '
    /^---/ { kind = ""; name = ""; ns = "" }
    /^kind: / { kind = $2 }
    kind == "Deployment" && /^  name: / { name = $2 }
    kind == "Deployment" && /^  namespace: / { ns = $2 }
    kind == "Deployment" && /^spec:/ { print (ns == "" ? "default" : ns), name; kind = "" }
  ' "$work/manifests.yaml"
}

revision() {
  kubectl get deployment "$2" -n "$1" --ignore-not-found \
    -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}'
}

# Polls /readyz until it answers 2xx or the deadline passes.
ready() {
  local deadline=$((SECONDS + timeout))
  until curl -fsS --max-time 5 -o /dev/null "$health_url/readyz"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 5
  done
}

# The SLO query must return no series: an empty answer means no burn (or no traffic yet).
slo_holds() {
  local answer
  answer=$(curl -fsS --max-time 10 --get --data-urlencode "query=$slo_query" \
    "$prometheus_url/api/v1/query") || return 1
  [ "$(jq '.data.result | length' <<<"$answer")" = 0 ] || {
    log "the SLO query returned series: $(jq -c '.data.result' <<<"$answer")"
    return 1
  }
}

command -v curl >/dev/null || [ -z "$health_url$prometheus_url" ] || die "curl is needed for the checks"
command -v jq >/dev/null || [ -z "$prometheus_url" ] || die "jq is needed for the SLO check"
render
mapfile -t targets < <(deployments)
[ "${#targets[@]}" -gt 0 ] || die "the overlay $1 renders no Deployment"

if [ "$dry_run" = 1 ]; then
  log "dry run: would apply these manifests with image $image"
  for target in "${targets[@]}"; do
    log "dry run: would wait ${timeout}s for the rollout of deployment ${target#* } in ${target% *}"
  done
  [ -z "$health_url" ] || log "dry run: would check $health_url/readyz"
  [ -z "$prometheus_url" ] || log "dry run: would ask $prometheus_url for: $slo_query"
  cat "$work/manifests.yaml"
  exit 0
fi

# The revision each Deployment has now: what a failed deploy goes back to. New ones have none.
declare -A before
for target in "${targets[@]}"; do
  read -r ns name <<<"$target"
  before[$target]=$(revision "$ns" "$name")
done

roll_back() {
  [ "$rollback" = 1 ] || die "$1 (rollback disabled)"
  log "$1: rolling back"
  local target ns name
  for target in "${targets[@]}"; do
    read -r ns name <<<"$target"
    if [ -z "${before[$target]}" ]; then
      log "deployment $name in $ns is new: nothing to roll back to"
      continue
    fi
    # Back to the exact revision seen before the apply: a plain undo would go one revision too
    # far for a Deployment whose template this deploy did not change.
    kubectl rollout undo "deployment/$name" -n "$ns" --to-revision="${before[$target]}" ||
      log "could not roll back deployment $name in $ns"
  done
  for target in "${targets[@]}"; do
    read -r ns name <<<"$target"
    [ -z "${before[$target]}" ] ||
      kubectl rollout status "deployment/$name" -n "$ns" --timeout="${timeout}s" ||
      log "deployment $name in $ns did not settle after the rollback"
  done
  die "$1: rolled back"
}

log "applying $overlay with image $image"
kubectl apply -f "$work/manifests.yaml" || roll_back "apply failed"
for target in "${targets[@]}"; do
  read -r ns name <<<"$target"
  log "waiting up to ${timeout}s for deployment $name in $ns"
  kubectl rollout status "deployment/$name" -n "$ns" --timeout="${timeout}s" ||
    roll_back "deployment $name did not roll out within ${timeout}s"
done
if [ -n "$health_url" ]; then
  log "checking $health_url/readyz"
  ready || roll_back "$health_url/readyz did not answer 2xx within ${timeout}s"
fi
if [ -n "$prometheus_url" ]; then
  log "baking ${bake}s, then asking Prometheus about the delivery SLO"
  sleep "$bake"
  slo_holds || roll_back "the delivery SLO check failed"
fi
log "deployed $image from $overlay"
