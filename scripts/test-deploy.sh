#!/usr/bin/env bash
# Offline tests of scripts/deploy.sh: a small overlay made here, the real `kubectl kustomize`
# for rendering, and a stand-in kubectl for everything that would need a cluster. It records
# each call, so the tests can see what was applied and what was rolled back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v kubectl >/dev/null || apt_install kubectl
real_kubectl=$(command -v kubectl) || die "kubectl is needed (for kubectl kustomize)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/overlay" "$work/bin"
cat >"$work/overlay/kustomization.yaml" <<'EOF'
namespace: shop
resources: [all.yaml]
EOF
cat >"$work/overlay/all.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {api: "http://herald-ingest.shop.svc:8080"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: herald-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: herald-operator}
subjects: [{kind: ServiceAccount, name: herald-operator, namespace: shop}]
EOF
for name in herald-ingest herald-dlq; do
  cat >>"$work/overlay/all.yaml" <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name}
spec:
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec: {containers: [{name: app, image: "ghcr.io/herald-dev/herald:0.1.0"}]}
EOF
done

# The stand-in: herald-ingest exists at revision 4, herald-dlq is new; the rollout of the
# deployment named in FAIL_ROLLOUT fails.
cat >"$work/bin/kubectl" <<EOF
#!/usr/bin/env bash
[ "\$1" = kustomize ] && exec "$real_kubectl" "\$@"
echo "\$*" >>"$work/calls"
case "\$*" in
  "get deployment herald-ingest "*) echo 4 ;;
  "rollout status deployment/\${FAIL_ROLLOUT:-none} "*) exit 1 ;;
esac
exit 0
EOF
chmod +x "$work/bin/kubectl"

deploy() {
  : >"$work/calls"
  PATH="$work/bin:$PATH" DEPLOY_NAMESPACE=herald-pr-3 DEPLOY_INGRESS_HOST=pr-3.preview.test \
    "$here/deploy.sh" "$work/overlay" \
    ghcr.io/herald-dev/herald:abc123 >"$work/out" 2>"$work/err"
}
called() { grep -qxF -- "$1" "$work/calls" || die "expected the call: kubectl $1"; }
not_called() { ! grep -qF -- "$1" "$work/calls" || die "unexpected call: kubectl $1..."; }
printed() { grep -qF -- "$1" "$work/out" || die "expected in the manifests: $1"; }

log "deploy.sh dry run renders the image, the namespace, an ingress and isolated cluster-wide names"
DEPLOY_DRY_RUN=1 deploy || { cat "$work/err"; die "the dry run failed"; }
[ ! -s "$work/calls" ] || die "the dry run called the cluster: $(cat "$work/calls")"
printed "image: ghcr.io/herald-dev/herald:abc123"
printed "namespace: herald-pr-3"
printed "http://herald-ingest.herald-pr-3.svc:8080"
printed "name: herald-operator-herald-pr-3"
printed "herald.dev/instance: herald-pr-3"
printed "host: pr-3.preview.test"
! grep -q "herald-dev/herald:0.1.0" "$work/out" || die "the old image is still rendered"

log "deploy.sh applies and waits for every deployment"
deploy || { cat "$work/err"; die "a deploy whose rollouts succeed failed"; }
grep -q '^apply -f .*/manifests.yaml$' "$work/calls" || die "nothing was applied"
called "rollout status deployment/herald-ingest -n herald-pr-3 --timeout=300s"
called "rollout status deployment/herald-dlq -n herald-pr-3 --timeout=300s"
not_called "rollout undo"

log "deploy.sh rolls back to the revision seen before when a rollout fails"
if FAIL_ROLLOUT=herald-dlq deploy; then die "a failed rollout did not fail the deploy"; fi
called "rollout undo deployment/herald-ingest -n herald-pr-3 --to-revision=4"
not_called "rollout undo deployment/herald-dlq"

log "deploy.sh rolls back when /readyz does not answer, and not when told not to"
if DEPLOY_HEALTH_URL=http://127.0.0.1:9 DEPLOY_TIMEOUT=1 deploy; then
  die "a deploy whose /readyz fails passed"
fi
called "rollout undo deployment/herald-ingest -n herald-pr-3 --to-revision=4"
if DEPLOY_ROLLBACK=0 FAIL_ROLLOUT=herald-ingest deploy; then die "a failed rollout passed"; fi
not_called "rollout undo"

# The real overlays: production waits for all four Herald Deployments, and a preview of the dev
# overlay renders with no reference left to the namespace it was written for.
overlays="$here/../k8s/overlays"
if [ -d "$overlays/prod" ] && [ -d "$overlays/dev" ]; then
  log "deploy.sh dry runs of k8s/overlays/prod and k8s/overlays/dev"
  DEPLOY_DRY_RUN=1 "$here/deploy.sh" "$overlays/prod" ghcr.io/herald-dev/herald:0123abc \
    >"$work/out" 2>"$work/err" || { cat "$work/err"; die "the prod overlay does not render"; }
  for name in herald-ingest herald-dispatcher herald-dlq herald-operator; do
    grep -q "rollout of deployment $name in" "$work/err" || die "prod: no wait for $name"
  done
  ! grep "image: ghcr.io/herald-dev/herald" "$work/out" | grep -v ":0123abc$" ||
    die "prod: a Herald container kept another image"
  DEPLOY_DRY_RUN=1 DEPLOY_NAMESPACE=herald-pr-3 "$here/deploy.sh" "$overlays/dev" \
    ghcr.io/herald-dev/herald:0123abc >"$work/out" 2>"$work/err" ||
    { cat "$work/err"; die "the dev overlay does not render into a preview namespace"; }
  own=$(kubectl kustomize "$overlays/dev" | awk '/^kind: Namespace$/ { ns = 1 } ns && !found && /^  name: / { print $2; found = 1 }')
  [ -z "$own" ] || ! grep -n -- "$own" "$work/out" || die "the preview still names namespace $own"
else
  log "no k8s/overlays/prod and dev here: their dry runs are skipped"
fi
log "deploy.sh tests passed"
