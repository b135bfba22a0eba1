#!/usr/bin/env bash
# bench/run.sh — the status benchmark (`make bench`): kdu's status (library, in process) against `helm status`
# exec'd as a process, on the local dev cluster and one release. See bench/README.md.
#
# Usage: bash bench/run.sh [statusbench flags...]   e.g. -n 5000 -helm-n 50 -cpuprofile /tmp/warm.pprof
#
# It starts (or reuses) the dev cluster, builds the helm CLI once (cached under $KDU_CACHE_DIR, default
# $HOME/.cache/kdu), builds bench/statusbench and runs it. Progress goes to stderr; the results and the final
# `BENCH status ...` line go to stdout. Exits non-zero if anything fails.
set -euo pipefail

HELM_VERSION=v4.3.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${HOME:?HOME must be set: the helm CLI is cached under \$HOME/.cache/kdu}"
CACHE_ROOT=${KDU_CACHE_DIR:-$HOME/.cache/kdu}
HELM_DIR=$CACHE_ROOT/bin/helm-$HELM_VERSION
HELM=$HELM_DIR/helm

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"

helm_ok() {
	[[ -x $HELM ]] && [[ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]
}

# build_helm builds the helm CLI the way its release does (static, version stamped), outside any workspace and
# independent of the caller's GOFLAGS. Concurrent runs are serialised by a lock.
build_helm() {
	mkdir -p "$HELM_DIR"
	exec 9>"$HELM_DIR/.lock"
	if command -v flock >/dev/null; then flock 9; fi
	if helm_ok; then return; fi
	log "building the helm CLI $HELM_VERSION into $HELM_DIR (once; 2-6 minutes on 2 cores with cold caches)"
	local start=$SECONDS
	GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN=$HELM_DIR \
		go install -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
		"helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
	helm_ok || die "$HELM does not report version $HELM_VERSION after the build"
	log "built the helm CLI in $((SECONDS - start)) s"
}

cd "$ROOT"

log "starting (or reusing) the dev cluster"
KUBECONFIG_PATH=$(scripts/devcluster up | tail -n 1)
[[ -f $KUBECONFIG_PATH ]] || die "scripts/devcluster up printed '$KUBECONFIG_PATH', not a kubeconfig file"

if helm_ok; then
	log "using the cached helm CLI $HELM"
else
	build_helm
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kdu-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log "building bench/statusbench"
go build -o "$WORK/statusbench" ./bench/statusbench

"$WORK/statusbench" \
	-kubeconfig "$KUBECONFIG_PATH" \
	-helm "$HELM" \
	-chart "$ROOT/examples/charts/webapp" \
	-data-dir "$WORK/data" \
	"$@"
