#!/usr/bin/env bash
# Runs the cluster suite (`npm run e2e`) against a fresh local control plane (etcd, kube-apiserver and
# kube-controller-manager built by hack/build-control-plane.sh, with our CRDs and Calico's), with the operator
# running in-process, then stops the control plane. No Docker, no kind: everything but the traffic tests, which
# need real nodes with Calico (hack/kind-up.sh).
#
# Extra arguments go to jest, e.g. `hack/e2e-local.sh --testPathPatterns samples`.
# CVO_KEEP_CONTROL_PLANE=true keeps the control plane's logs (the path is printed) for a post-mortem.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[e2e-local] %s\n' "$*" >&2; }

if [[ "${E2E_TRAFFIC:-}" == "true" ]]; then
  log "E2E_TRAFFIC=true needs nodes with Calico; the local control plane runs no pods. Use hack/kind-up.sh."
  exit 2
fi

cp_tool=(node --import tsx e2e/support/local-control-plane.ts)
state_file=""
stop_control_plane() {
  if [[ -n "$state_file" ]]; then
    log "stopping the local control plane"
    "${cp_tool[@]}" stop "$state_file" || log "could not stop the control plane (state: $state_file)"
  fi
}
trap stop_control_plane EXIT

log "starting a local control plane"
started="$("${cp_tool[@]}" start)"
kubeconfig="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).kubeconfig)' "$started")"
state_file="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).stateFile)' "$started")"
log "control plane up; KUBECONFIG=$kubeconfig"

KUBECONFIG="$kubeconfig" E2E_RUN_OPERATOR=local npm run e2e -- "$@"
