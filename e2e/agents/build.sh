#!/usr/bin/env bash
# Builds the real Nomad and Consul agents that the end-to-end tests run, from
# the versions pinned in nomad/go.mod and consul/go.mod beside this script
# (each its own Go module, with a complete go.sum).
#
# Usage: build.sh [--no-build]
#   Prints on stdout the absolute path of a folder holding the executables
#   `nomad` and `consul`; progress goes to stderr.
#   --no-build  only look: print the folder if both are built, else exit 3.
#
# Environment:
#   NOMAD_POT_AGENTS_BIN  a folder that already holds nomad and consul: it is
#                         checked and printed, nothing is built.
#   NOMAD_POT_AGENTS_DIR  cache root (default ~/.cache/nomad-pot-driver/agents).
#                         The binaries go to <root>/<key>/, key being a hash of
#                         the four go.mod/go.sum files and the build recipe, so
#                         they are built once per machine and again only when
#                         a pin changes.
#   NOMAD_POT_AGENTS_NICE nice level for the compiler (default 10).
#
# Cost of a first build on 2 cores: about 4 min per agent and several GB of Go
# build cache (GOCACHE, trimmed by Go itself; `go clean -cache` frees it). Later
# calls return at once. Concurrent calls are safe: one builds under a lock, the
# others wait for it; every binary is written under a temporary name and
# renamed into place only after `<binary> version` ran.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
no_build=false
for arg in "$@"; do
	case $arg in
	--no-build) no_build=true ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "build.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

log() { printf 'agents: %s\n' "$*" >&2; }

# have DIR: both agents are there and runnable.
have() { [[ -x $1/nomad && -x $1/consul ]]; }

if [[ -n ${NOMAD_POT_AGENTS_BIN:-} ]]; then
	if ! have "$NOMAD_POT_AGENTS_BIN"; then
		log "NOMAD_POT_AGENTS_BIN=$NOMAD_POT_AGENTS_BIN lacks an executable nomad or consul"
		exit 1
	fi
	(cd "$NOMAD_POT_AGENTS_BIN" && pwd)
	exit 0
fi

# pinned MODULE_DIR MODULE_PATH: the version go.mod requires.
pinned() {
	awk -v m="$2" '($1 == "require" && $2 == m) { print $3; exit } ($1 == m) { print $2; exit }' "$here/$1/go.mod"
}
nomad_version=$(pinned nomad github.com/hashicorp/nomad)
consul_version=$(pinned consul github.com/hashicorp/consul)
[[ -n $nomad_version && -n $consul_version ]] || {
	log "cannot read the pinned versions from $here/{nomad,consul}/go.mod"
	exit 1
}

goos=$(go env GOOS)
goarch=$(go env GOARCH)

# Build recipe; part of the cache key, so changing it rebuilds.
# CGO_ENABLED=0 for both, as Consul's releases: static binaries, no C compiler
# needed. (Nomad's exec/java drivers need cgo for their isolation; raw_exec and
# external plugins such as pot do not.) `hashicorpmetrics` is the tag Nomad's
# releases use; `ui` (the embedded web UI) is left out.
recipe="v1 $goos/$goarch cgo=0 trimpath ldflags=-s,-w nomad-tags=hashicorpmetrics consul-tags="

key=$(
	{
		printf '%s\n' "$recipe"
		for f in nomad/go.mod nomad/go.sum consul/go.mod consul/go.sum; do
			printf '== %s\n' "$f"
			cat "$here/$f"
		done
	} | sha256sum | cut -c1-16
)
root=${NOMAD_POT_AGENTS_DIR:-$HOME/.cache/nomad-pot-driver/agents}
out=$root/$key

if have "$out"; then
	echo "$out"
	exit 0
fi
if $no_build; then
	log "not built yet: nomad $nomad_version, consul $consul_version (run $here/build.sh)"
	exit 3
fi

mkdir -p "$out"
exec 9>"$root/$key.lock"
if command -v flock >/dev/null; then
	if ! flock -n 9; then
		log "another build of $out is running; waiting for it"
		flock 9
	fi
fi
if have "$out"; then # built by whoever held the lock
	echo "$out"
	exit 0
fi

nice_level=${NOMAD_POT_AGENTS_NICE:-10}

# build NAME VERSION MODULE_DIR TAGS: go build into $out/NAME, atomically.
build() {
	local name=$1 version=$2 dir=$3 tags=$4 minutes=$5
	if [[ -x $out/$name ]]; then
		return 0
	fi
	log "building $name $version (first time takes ~$minutes min)…"
	local tmp="$out/.$name.tmp.$$" start=$SECONDS
	# -mod=readonly: never touch go.mod/go.sum, fail if go.sum lacks a line.
	# GOWORK=off: ignore any go.work above this folder.
	if ! (
		cd "$here/$dir" &&
			GOWORK=off CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" \
				nice -n "$nice_level" go build -mod=readonly -trimpath \
				-tags "$tags" -ldflags "-s -w" -o "$tmp" "github.com/hashicorp/$name"
	); then
		rm -f "$tmp"
		log "building $name $version failed"
		return 1
	fi
	local got
	if ! got=$("$tmp" version 2>&1) || [[ $got != *"${version#v}"* ]]; then
		rm -f "$tmp"
		log "built $name does not report $version: $got"
		return 1
	fi
	mv -f "$tmp" "$out/$name"
	log "built $name $version in $((SECONDS - start)) s ($(du -m "$out/$name" | cut -f1) MiB)"
}

build nomad "$nomad_version" nomad hashicorpmetrics 4
build consul "$consul_version" consul "" 4
echo "$out"
