#!/usr/bin/env bash
# Time `countersign wallet sync` at treasury scale against a real btcd
# regtest node: a 2-of-3 wsh wallet with A used receive addresses (default
# 10,000) paid by T transactions (default 30,000), built by
# bench/syncfixture. Times, as whole processes: the first sync (a full
# scan), a second with nothing new, then `wallet history` and `wallet
# balance` (RUNS times each, default 5, after a warm-up). Each run prints
# wall, user and system seconds and the maximum resident set size
# (/usr/bin/time); the load average is printed before and after: the
# machine is shared.
#
# btcd's own CPU time during each command is printed beside ours (from
# /proc): a first sync is mostly the node's work.
#
# Usage: bash bench/sync.sh [A] [T] ; RUNS=9 bash bench/sync.sh 1000 3000
# CS_BIN times an already built binary instead of building one; CS_BINS
# (space-separated) times several against the same node, each with its own
# data directory: CS_BINS="/tmp/before /tmp/after" for a before/after under
# the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
addrs=${1:-10000}
txs=${2:-30000}
runs=${RUNS:-5}
bin=${CS_BIN:-bin/countersign}
if [[ -z "${CS_BIN:-}" && -z "${CS_BINS:-}" ]]; then
	tags=${TAGS-$(make -s print-tags)}
	go build ${tags:+-tags "$tags"} -o bin/countersign ./cmd/countersign
	echo "built with tags: ${tags:-none (pure Go)}"
fi
work=$(mktemp -d)
go build -o "$work/syncfixture" ./bench/syncfixture
# The fixture holds the node until its stdin closes: a fifo kept open here.
mkfifo "$work/hold"
"$work/syncfixture" -dir "$work" -addresses "$addrs" -txs "$txs" -hold <"$work/hold" &
fixture=$!
exec 3>"$work/hold"
cleanup() {
	exec 3>&- || true
	wait "$fixture" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
while [[ ! -e "$work/ready" ]]; do
	kill -0 "$fixture" 2>/dev/null || { echo "syncfixture failed" >&2; exit 1; }
	sleep 1
done

btcd=$(pgrep -f -- "--datadir=$work/btcd" | head -1 || true)
# btcd_cpu: the node's user+system CPU seconds so far (0 when unknown).
btcd_cpu() {
	if [[ -n "$btcd" && -r /proc/$btcd/stat ]]; then
		awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$btcd/stat"
	else
		echo 0
	fi
}

# once NAME CMD...: one timed run.
once() {
	local name=$1
	shift
	local b0 b1
	b0=$(btcd_cpu)
	/usr/bin/time -o "$work/time" -f "%e %U %S %M" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	b1=$(btcd_cpu)
	read -r wall user sys rss <"$work/time"
	printf '%-26s %s s wall, %s s user, %s s sys, %d MB max RSS; btcd %.2f s CPU\n' "$name" "$wall" "$user" "$sys" $((rss / 1024)) "$(awk -v a="$b0" -v b="$b1" 'BEGIN { print b - a }')"
}
# timeit NAME CMD...: a warm-up, then $runs timed runs.
timeit() {
	local name=$1
	shift
	"$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	for i in $(seq "$runs"); do
		once "$name (run $i)" "$@"
	done
}

for b in ${CS_BINS:-$bin}; do
	echo "== $b"
	export COUNTERSIGN_DATA_DIR=$work/data-$(echo "$b" | tr '/' '_')
	cs=("$b" --network regtest)
	"${cs[@]}" wallet create w --descriptor "$(cat "$work/desc")" >/dev/null
	"${cs[@]}" backend set "$(cat "$work/url")" >/dev/null 2>&1
	echo "load before: $(uptime | sed 's/.*load average: //')"
	once "first sync" "${cs[@]}" --json wallet sync w
	grep -Eo '"(utxos|addresses_scanned|new_transactions|round_trips)": *[0-9]+' "$work/out" | tr '\n' ' '
	echo
	timeit "sync, nothing new" "${cs[@]}" wallet sync w
	timeit "wallet history" "${cs[@]}" wallet history w
	echo "history lines: $(wc -l <"$work/out")"
	timeit "wallet balance" "${cs[@]}" wallet balance w
	echo "load after: $(uptime | sed 's/.*load average: //')"
done
