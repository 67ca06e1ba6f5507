#!/usr/bin/env bash
# Makes sure the tools the tests shell out to are available, installing only what is missing:
#   - kustomize builds config/ (test/unit/config.test.ts). `kubectl kustomize` serves as well; when neither is on
#     PATH, sigs.k8s.io/kustomize/kustomize/v5 is built with `go install` at a pinned version into the tools
#     cache, where the tests look for it.
#   - ShellCheck lints hack/*.sh (test/unit/scripts.test.ts), and Graphviz's dot renders the connectivity and diff
#     pictures (src/cli/commands/pictures.test.ts, and `-o svg` for users); each installed with apt-get when
#     running as root on a Debian/Ubuntu machine, otherwise reported (those tests then skip and say why).
#   - The Felix tier (test/felix/) runs Calico Felix in network namespaces: iproute2 (ip), nftables (nft),
#     iptables, ipset, conntrack, socat (the API relay, SCTP), xz-utils (unpacks ../shared/felix/*.xz), procps
#     (sysctl); installed the same way (without them the tier skips and says why, or fails under REQUIRE_FELIX=1).
#
# Honoured: CVO_CACHE_DIR (cache root, default $XDG_CACHE_HOME/calico-vpc-operator or ~/.cache/calico-vpc-operator).
# The last line on stdout is the kustomize command the tests will use.
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.2"  # v5.8.3 needs Go 1.27; the project builds with Go 1.26
KUSTOMIZE_MODULE="sigs.k8s.io/kustomize/kustomize/v5"
cache_root="${CVO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calico-vpc-operator}"
tools_dir="$cache_root/bin/tools"

log() { printf '[install-tools] %s\n' "$*" >&2; }
die() { printf '[install-tools] error: %s\n' "$*" >&2; exit 1; }

kustomize_command=""
ensure_kustomize() {
  if command -v kustomize >/dev/null 2>&1; then
    kustomize_command="$(command -v kustomize)"
    log "kustomize found on PATH: $kustomize_command"
    return
  fi
  if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    kustomize_command="$(command -v kubectl) kustomize"
    log "kubectl found on PATH; using its built-in kustomize"
    return
  fi
  local cached="$tools_dir/kustomize"
  if [[ -x "$cached" && "$("$cached" version 2>/dev/null)" == "$KUSTOMIZE_VERSION" ]]; then
    kustomize_command="$cached"
    log "kustomize $KUSTOMIZE_VERSION cached at $cached"
    return
  fi
  command -v go >/dev/null 2>&1 ||
    die "neither kustomize nor kubectl is on PATH, and go is not installed to build kustomize $KUSTOMIZE_VERSION"
  # Fail early and clearly when the module proxy in use does not serve the pinned version.
  if ! go list -m -versions "$KUSTOMIZE_MODULE" 2>/dev/null | tr ' ' '\n' | grep -qx "$KUSTOMIZE_VERSION"; then
    die "the Go module proxy ($(go env GOPROXY)) does not serve $KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION"
  fi
  mkdir -p "$tools_dir"
  log "building kustomize $KUSTOMIZE_VERSION into $tools_dir (about a minute on a cold Go cache)"
  local start=$SECONDS
  GOBIN="$tools_dir" CGO_ENABLED=0 go install "$KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION"
  [[ "$("$cached" version)" == "$KUSTOMIZE_VERSION" ]] ||
    die "built $cached but it reports version '$("$cached" version)', not $KUSTOMIZE_VERSION"
  log "built kustomize $KUSTOMIZE_VERSION in $((SECONDS - start))s"
  kustomize_command="$cached"
}

# ensure_apt_tool COMMAND PACKAGE WHAT: COMMAND on PATH, installing PACKAGE with apt-get when missing and possible.
apt_lists_updated=false
ensure_apt_tool() {
  local command_name="$1" package="$2" what="$3"
  if command -v "$command_name" >/dev/null 2>&1; then
    log "$command_name found on PATH: $(command -v "$command_name")"
    return
  fi
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing $package with apt-get"
    if [[ "$apt_lists_updated" == false ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      apt_lists_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >&2
    command -v "$command_name" >/dev/null 2>&1 ||
      die "apt-get reported success but $command_name is still not on PATH"
    log "installed $package: $(command -v "$command_name")"
    return
  fi
  log "$command_name ($package) is not installed and cannot be installed here (needs root and apt-get):"
  log "  install the $package package; until then $what skips"
}

ensure_kustomize
ensure_apt_tool shellcheck shellcheck "the script lint test"
ensure_apt_tool dot graphviz "the Graphviz rendering test"
for felix_tool in ip:iproute2 nft:nftables iptables:iptables ipset:ipset conntrack:conntrack socat:socat xz:xz-utils \
  sysctl:procps; do
  ensure_apt_tool "${felix_tool%%:*}" "${felix_tool#*:}" "the Felix tier"
done
echo "$kustomize_command"
