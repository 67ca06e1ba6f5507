#!/usr/bin/env bash
# Deletes the kind cluster made by hack/kind-up.sh and the kubeconfig file it wrote.
# Not run on the machines this project is developed on (no Docker engine there); see hack/kind-up.sh.
#
# Environment: KIND_CLUSTER_NAME, KIND_KUBECONFIG, CVO_CACHE_DIR (the same as hack/kind-up.sh).
set -euo pipefail

cluster="${KIND_CLUSTER_NAME:-calico-vpc}"
cache_dir="${CVO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calico-vpc-operator}"
kubeconfig="${KIND_KUBECONFIG:-$cache_dir/kind-$cluster.kubeconfig}"

die() { printf '[kind-down] error: %s\n' "$*" >&2; exit 1; }

command -v kind >/dev/null 2>&1 || die "kind is not installed or not on PATH: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind delete cluster --name "$cluster" --kubeconfig "$kubeconfig"
else
  printf '[kind-down] no kind cluster named %s\n' "$cluster" >&2
fi
rm -f "$kubeconfig"
