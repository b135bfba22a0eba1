#!/usr/bin/env bash
# bench/run.sh — the status benchmarks (`make bench`), on the local dev cluster and one release each:
#   statusbench: kdu's status (library, in process) against `helm status` exec'd as a process;
#   apistatus:   50 concurrent clients asking kdu's REST API for the status for 30 s, against 50 concurrent
#                `helm status` processes for 30 s;
#   installs:    200 installs with wait through kdu serve's API (8, then 32 clients) against 200 `helm install
#                --wait` processes (8 at a time), with kdu serve's CPU per install;
#   osmstatus:   the OSM connector's status_kdu (Python → kdu serve) against `helm status` exec'd and parsed the
#                way N2VC does it, from one Python process.
# See bench/README.md.
#
# Usage: bash bench/run.sh [statusbench flags...] [-- apistatus flags...]
#   e.g. bash bench/run.sh -n 5000 -helm-n 50 -- -duration 10s -cpuprofile /tmp/api.pprof
#
# It starts (or reuses) the dev cluster, builds the helm CLI once (cached under $KDU_CACHE_DIR, default
# $HOME/.cache/kdu), builds both programs once and runs them one after the other. Progress goes to stderr; the
# results and the `BENCH ...` lines go to stdout, `BENCH osm-status ...` last. Exits non-zero if anything fails.
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

# Arguments before a `--` go to statusbench, those after it to apistatus.
STATUS_ARGS=()
API_ARGS=()
while (($#)); do
	if [[ $1 == -- ]]; then
		shift
		API_ARGS=("$@")
		break
	fi
	STATUS_ARGS+=("$1")
	shift
done

log "building bench/statusbench and bench/apistatus"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/" ./bench/statusbench ./bench/apistatus ./bench/installs ./cmd/kdu

"$WORK/bin/statusbench" \
	-kubeconfig "$KUBECONFIG_PATH" \
	-helm "$HELM" \
	-chart "$ROOT/examples/charts/webapp" \
	-data-dir "$WORK/data" \
	${STATUS_ARGS[@]+"${STATUS_ARGS[@]}"}

"$WORK/bin/apistatus" \
	-kubeconfig "$KUBECONFIG_PATH" \
	-helm "$HELM" \
	-chart "$ROOT/examples/charts/webapp" \
	${API_ARGS[@]+"${API_ARGS[@]}"}

"$WORK/bin/installs" \
	-kubeconfig "$KUBECONFIG_PATH" \
	-helm "$HELM" \
	-kdu "$WORK/bin/kdu" \
	-chart "$ROOT/examples/charts/webapp"

log "preparing the OSM connector's Python environment (scripts/osm-venv)"
PYTHON=$(scripts/osm-venv | tail -n 1)
"$PYTHON" bench/osmstatus/osmstatus.py \
	--kdu "$WORK/bin/kdu" \
	--helm "$HELM" \
	--kubeconfig "$KUBECONFIG_PATH" \
	--chart "$ROOT/examples/charts/webapp"
