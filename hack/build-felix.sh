#!/usr/bin/env bash
# Builds Calico Felix from Calico's source for the Felix tier (test/felix/), for machines that are online and have
# no prebuilt binary: clones projectcalico/calico at the pinned tags and builds ./felix/cmd/calico-felix the way
# ../shared/felix/README.md records it (cgo off: the eBPF dataplane is stubbed out, nftables and iptables are
# complete), then copies that release's CRDs beside the binary. The tier finds the results in the cache:
#   <cache>/bin/felix-<tag>/calico-felix   and   <cache>/bin/felix-<tag>/crds/*.yaml
#
# NOT RUN on the machines this project is built on: they reach the Go module proxy but not GitHub, and the Calico
# modules themselves are not on the module proxy. There the tier unpacks ../shared/felix/calico-felix-<tag>.xz.
#
# Usage: hack/build-felix.sh [TAG...]     (default: v3.31.7 v3.32.1)
# Needs: git, Go >= 1.26 (about 11-16 minutes per release cold on 2 cores).
# Honoured: CVO_CACHE_DIR (cache root, default $XDG_CACHE_HOME/calico-vpc-operator or ~/.cache/calico-vpc-operator).
set -euo pipefail

CALICO_REPO="https://github.com/projectcalico/calico.git"
# The commits the tags pointed at when ../shared/felix was built: a moved tag is refused, not built.
declare -A COMMITS=(
  [v3.31.7]=94bd1d5b0e04459d4d1c83653e0335a9201248b8
  [v3.32.1]=0ca9d1b93644778cafdf1812f3dda02ac0c361e8
)
# Where each release keeps the CRDs Felix needs (3.31: crd.projectcalico.org/v1; 3.32: native projectcalico.org/v3);
# the policy.networking.k8s.io CRDs Felix also watches are in libcalico-go/config/crd in both.
declare -A CRD_DIRS=(
  [v3.31.7]=libcalico-go/config/crd
  [v3.32.1]=api/config/crd
)

cache_root="${CVO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calico-vpc-operator}"
log() { printf '[build-felix] %s\n' "$*" >&2; }
die() { printf '[build-felix] error: %s\n' "$*" >&2; exit 1; }

command -v git >/dev/null 2>&1 || die "git is needed"
command -v go >/dev/null 2>&1 || die "Go >= 1.26 is needed"

build() {
  local tag="$1"
  local commit="${COMMITS[$tag]:-}"
  [[ -n "$commit" ]] || die "no pinned commit for $tag (known: ${!COMMITS[*]})"
  local out="$cache_root/bin/felix-$tag"
  if [[ -x "$out/calico-felix" && -d "$out/crds" ]]; then
    log "Felix $tag already in $out"
    return
  fi
  local src
  src="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the directory of this build
  trap "rm -rf '$src'" RETURN
  log "cloning $CALICO_REPO at $tag"
  git clone --quiet --depth 1 --branch "$tag" "$CALICO_REPO" "$src/calico" ||
    die "cannot clone $CALICO_REPO (this script needs GitHub; offline machines use ../shared/felix/*.xz)"
  local head
  head="$(git -C "$src/calico" rev-parse HEAD)"
  [[ "$head" == "$commit" ]] || die "tag $tag is at $head, expected $commit: refusing a moved tag"
  mkdir -p "$out/crds"
  log "building Felix $tag (cgo off; 11-16 minutes cold on 2 cores)"
  local start=$SECONDS
  (cd "$src/calico" && CGO_ENABLED=0 go build -o "$out/calico-felix.partial" \
    -ldflags "-s -w -X github.com/projectcalico/calico/pkg/buildinfo.Version=$tag" ./felix/cmd/calico-felix)
  mv "$out/calico-felix.partial" "$out/calico-felix"
  cp "$src/calico/${CRD_DIRS[$tag]}"/*.yaml "$src/calico"/libcalico-go/config/crd/policy.networking.k8s.io_*.yaml \
    "$out/crds/"
  log "built $("$out/calico-felix" --version | head -1) in $((SECONDS - start))s into $out"
}

tags=("$@")
[[ ${#tags[@]} -gt 0 ]] || tags=(v3.31.7 v3.32.1)
for tag in "${tags[@]}"; do build "$tag"; done
