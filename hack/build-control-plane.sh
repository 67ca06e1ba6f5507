#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager) from the Go module proxy and
# caches the binaries by version outside the work tree. Prints the directory that holds them on stdout (last line).
#
# Honoured:
#   KUBEBUILDER_ASSETS   a directory that already holds etcd and kube-apiserver (envtest's layout): no build.
#   CVO_CACHE_DIR        cache root (default: $XDG_CACHE_HOME/calico-vpc-operator or ~/.cache/calico-vpc-operator).
#   CVO_SKIP_KCM=1       do not build kube-controller-manager.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The versions are whatever the wrapper modules require: bump them there.
module_version() { grep -Eo "^(require )?[[:space:]]*$1 v[0-9]+\.[0-9]+\.[0-9]+" "$2" | grep -Eo 'v[0-9.]+$' | head -n1; }
K8S_VERSION="$(module_version k8s.io/kubernetes "$here/controlplane/kube/go.mod")"
ETCD_VERSION="$(module_version go.etcd.io/etcd/server/v3 "$here/controlplane/etcd/go.mod")"
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" ]] || { echo "cannot read versions from hack/controlplane/*/go.mod" >&2; exit 1; }
cache_root="${CVO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calico-vpc-operator}"
out="$cache_root/bin/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if [[ -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS (no build)"
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks etcd or kube-apiserver; building instead"
fi

command -v go >/dev/null || { log "go is not installed; install Go >= 1.26 or set KUBEBUILDER_ASSETS"; exit 1; }
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"

stamp() {  # -ldflags that stamp the version the way Kubernetes' own build does
  local v="${K8S_VERSION#v}" major minor
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

build() {  # build <module dir> <output name> <package>
  local dir="$1" name="$2" pkg="$3" start
  if [[ -x "$out/$name" ]]; then log "$name cached at $out/$name"; return; fi
  log "building $name ($pkg) — a cold build takes several minutes on 2 cores"
  start=$(date +%s)
  (cd "$dir" && go mod download && go build -tags=selinux,notest,grpcnotrace -ldflags "$(stamp)" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  log "built $name in $(( $(date +%s) - start ))s"
}

build "$here/controlplane/etcd" etcd .
build "$here/controlplane/kube" kube-apiserver ./cmd/kube-apiserver
if [[ "${CVO_SKIP_KCM:-0}" != 1 ]]; then
  build "$here/controlplane/kube" kube-controller-manager ./cmd/kube-controller-manager
fi
# A binary with a broken version stamp panics at start; catch it here, not in the first test.
got="$("$out/kube-apiserver" --version 2>&1 || true)"
if [[ "$got" != "Kubernetes $K8S_VERSION" ]]; then
  rm -f "$out/kube-apiserver" "$out/kube-controller-manager"
  log "kube-apiserver --version printed '$got', expected 'Kubernetes $K8S_VERSION'; removed, rebuild"; exit 1
fi
log "$got, etcd $ETCD_VERSION in $out"
echo "$out"
