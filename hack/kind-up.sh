#!/usr/bin/env bash
# Creates a kind cluster with Calico as the CNI, builds and loads the operator image, deploys config/default and
# waits for the rollout. Prints the KUBECONFIG to use; then `npm run e2e` runs the cluster suite (with real
# traffic between pods) against it.
#
# NOT RUN ON THE MACHINES THIS PROJECT IS DEVELOPED ON: they have no Docker engine, so kind cannot start there.
# The script follows kind's quick start and configuration docs and Calico's operator install (operator CRDs,
# tigera-operator.yaml, then an Installation whose IP pool matches kind's podSubnet), and passes ShellCheck.
# If it fails for you, it prints the step that failed; please report it.
#
# Requires: docker (a running engine), kind, kubectl. Re-running is safe: an existing cluster is reused, Calico
# and the operator are re-applied server-side, the image is rebuilt and reloaded.
#
# Environment:
#   KIND_CLUSTER_NAME  cluster name (default calico-vpc)
#   KIND_NODE_IMAGE    node image (default: Kubernetes v1.35.8 built for kind v0.33.0, pinned by digest)
#   KIND_KUBECONFIG    kubeconfig file to write (default ~/.cache/calico-vpc-operator/kind-<name>.kubeconfig);
#                      your ~/.kube/config is left alone
#   CALICO_VERSION     Calico release (default v3.32.1; v3.31.x works in apiserver mode)
#   CALICO_API_MODE    apiserver (default): projectcalico.org/v3 served by calico-apiserver over the
#                      crd.projectcalico.org/v1 CRDs; native: Calico 3.32+'s native projectcalico.org/v3 CRDs
#                      (tech preview; enables the MutatingAdmissionPolicy feature gate on the cluster)
#   IMG                operator image to build and deploy (default calico-vpc-operator:dev)
#   SKIP_BUILD=1       do not run `docker build` (load an IMG you built yourself)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-calico-vpc}"
# Node images are tied to the kind release that built them; kind's release notes list them with digests.
# Kubernetes 1.35 is in the tested range of both Calico 3.31 (1.32-1.35) and 3.32 (1.34-1.36).
kind_release_for_image="v0.33.0"
node_image="${KIND_NODE_IMAGE:-kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0}"
calico_version="${CALICO_VERSION:-v3.32.1}"
calico_api_mode="${CALICO_API_MODE:-apiserver}"
img="${IMG:-calico-vpc-operator:dev}"
cache_dir="${CVO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calico-vpc-operator}"
kubeconfig="${KIND_KUBECONFIG:-$cache_dir/kind-$cluster.kubeconfig}"
calico_manifests="https://raw.githubusercontent.com/projectcalico/calico/$calico_version/manifests"
operator_namespace="calico-vpc-system"
operator_deployment="calico-vpc-controller-manager"

log() { printf '[kind-up] %s\n' "$*" >&2; }
die() { printf '[kind-up] error: %s\n' "$*" >&2; exit 1; }

step=""
overlay=""
on_exit() {
  local status=$?
  if [[ -n "$overlay" ]]; then rm -rf "$overlay"; fi
  if [[ $status -ne 0 && -n "$step" ]]; then printf '[kind-up] failed while: %s\n' "$step" >&2; fi
}
trap on_exit EXIT

require() {  # require <command> <how to get it>
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed or not on PATH: $2"
}

# Polls until `kubectl get <args>` finds the object: some objects only appear once an operator has created them.
wait_for_object() {  # wait_for_object <timeout seconds> <kubectl get args...>
  local timeout="$1"; shift
  local deadline=$((SECONDS + timeout))
  until kubectl get "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for: kubectl get $*"
    sleep 5
  done
}

step="checking prerequisites"
require docker "https://docs.docker.com/engine/install/"
require kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation (release $kind_release_for_image)"
require kubectl "https://kubernetes.io/docs/tasks/tools/"
docker info >/dev/null 2>&1 || die "docker is installed but no engine answers (is the daemon running, may this user use it?)"
case "$calico_api_mode" in
  apiserver | native) ;;
  *) die "CALICO_API_MODE must be apiserver or native, not '$calico_api_mode'" ;;
esac
if [[ "$calico_api_mode" == native && "$calico_version" == v3.31.* ]]; then
  die "CALICO_API_MODE=native needs Calico 3.32 or later (CALICO_VERSION=$calico_version)"
fi
image_name="${img%:*}"
image_tag="${img##*:}"
if [[ "$image_name" == "$img" || "$image_tag" == */* ]]; then
  die "IMG must be NAME:TAG, not '$img'"
fi
kind_version="$(kind version 2>/dev/null | awk '{print $2}')"
if [[ -z "${KIND_NODE_IMAGE:-}" && "$kind_version" != "$kind_release_for_image" ]]; then
  log "warning: kind $kind_version; the pinned node image was built for kind $kind_release_for_image"
  log "         (if cluster creation fails, install kind $kind_release_for_image or set KIND_NODE_IMAGE)"
fi

mkdir -p "$(dirname "$kubeconfig")"
export KUBECONFIG="$kubeconfig"

step="creating the kind cluster $cluster"
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "cluster $cluster exists; reusing it"
  kind export kubeconfig --name "$cluster" --kubeconfig "$kubeconfig" >/dev/null
else
  kind_config="$repo/hack/kind-config.yaml"
  if [[ "$calico_api_mode" == native ]]; then
    # Native v3 CRDs default fields with MutatingAdmissionPolicies: beta and off by default in Kubernetes 1.34-1.35.
    kind_config="$(mktemp)"
    cat "$repo/hack/kind-config.yaml" - >"$kind_config" <<'EOF'
featureGates:
  MutatingAdmissionPolicy: true
runtimeConfig:
  admissionregistration.k8s.io/v1beta1: "true"
EOF
  fi
  log "creating cluster $cluster ($node_image)"
  # No --wait: nodes stay NotReady until Calico is installed below.
  kind create cluster --name "$cluster" --image "$node_image" --config "$kind_config" --kubeconfig "$kubeconfig"
  if [[ "$calico_api_mode" == native ]]; then rm -f "$kind_config"; fi
fi

step="installing Calico $calico_version ($calico_api_mode mode)"
if [[ "$calico_api_mode" == native ]]; then
  calico_crds="$calico_manifests/v3_projectcalico_org.yaml"
else
  # operator-crds.yaml: the operator's CRDs and crd.projectcalico.org/v1 (named so in 3.30 through 3.32).
  calico_crds="$calico_manifests/operator-crds.yaml"
fi
# Server-side apply: Calico's CRD bundle is too large for client-side apply's last-applied annotation, and unlike
# `kubectl create` it can be re-run.
log "applying $calico_crds"
kubectl apply --server-side --force-conflicts -f "$calico_crds" >/dev/null
log "applying $calico_manifests/tigera-operator.yaml"
kubectl apply --server-side --force-conflicts -f "$calico_manifests/tigera-operator.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=120s \
  crd/installations.operator.tigera.io crd/apiservers.operator.tigera.io >/dev/null
kubectl -n tigera-operator rollout status deployment/tigera-operator --timeout=300s
kubectl apply --server-side --force-conflicts -f "$repo/hack/kind-calico.yaml" >/dev/null

step="waiting for Calico to be ready"
log "waiting for calico-node on every node (pulling Calico's images takes a few minutes on a cold machine)"
wait_for_object 300 tigerastatus/calico
kubectl wait --for=condition=Available --timeout=600s tigerastatus/calico
kubectl wait --for=condition=Ready --timeout=300s nodes --all
wait_for_object 300 tigerastatus/apiserver
kubectl wait --for=condition=Available --timeout=600s tigerastatus/apiserver
if [[ "$calico_api_mode" == apiserver ]]; then
  wait_for_object 300 apiservice/v3.projectcalico.org
  kubectl wait --for=condition=Available --timeout=300s apiservice/v3.projectcalico.org
fi
kubectl api-resources --api-group=projectcalico.org -o name | grep -qx 'globalnetworkpolicies.projectcalico.org' ||
  die "projectcalico.org/v3 GlobalNetworkPolicies are not served after Calico reported Available"

step="building and loading the operator image $img"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "docker build -t $img $repo"
  docker build -t "$img" "$repo"
fi
kind load docker-image "$img" --name "$cluster"

step="deploying the operator from config/default"
# The image is set by a throw-away overlay: kustomize only loads relative paths, and `kustomize edit` would
# change config/ in the work tree.
overlay="$(mktemp -d "$repo/hack/.kind-overlay.XXXXXX")"
cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../config/default
images:
  - name: calico-vpc-operator
    newName: $image_name
    newTag: $image_tag
EOF
kubectl apply --server-side --force-conflicts -k "$overlay"
rm -rf "$overlay"
overlay=""
# A reloaded image with the same tag does not change the pod template: restart so the pods run the new build.
kubectl -n "$operator_namespace" rollout restart "deployment/$operator_deployment" >/dev/null
kubectl -n "$operator_namespace" rollout status "deployment/$operator_deployment" --timeout=300s

step=""
log "ready: kind cluster $cluster, Calico $calico_version ($calico_api_mode), operator image $img"
cat <<EOF

Use the cluster with:
  export KUBECONFIG=$kubeconfig
  kubectl -n $operator_namespace get pods
  E2E_TRAFFIC=true npm run e2e   # the cluster suite, including real traffic between pods

Tear it down with: hack/kind-down.sh
EOF
