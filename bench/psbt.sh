#!/usr/bin/env bash
# Time the coordinator's heaviest moment as whole processes, on a 3-of-5
# wsh(sortedmulti) sweep of N inputs (default 500; also try 2000): three
# partial PSBTs, each signed by one cosigner, combined; the result
# finalized and inspected; the three finalized in one command; and `sign` with a software key, of the unsigned
# PSBT (first cosigner) and of one two cosigners have signed (the third),
# and with the first key unlocked (key unlock: no scrypt per signature).
# Each command runs once to warm up, then RUNS times (default 5); every run
# prints wall, user and system seconds and the maximum resident set size
# (/usr/bin/time), and the summary gives the median of each. The load
# average is printed before and after: the machine is shared.
#
# Usage: bash bench/psbt.sh [N] ; RUNS=9 bash bench/psbt.sh 2000
# The binary is built as the Makefile builds it: with libsecp256k1 when the
# C compiler finds it (TAGS= for the pure-Go build). Set CS_BIN to time an
# already built binary (e.g. one built from another commit) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
runs=${RUNS:-5}
bin=${CS_BIN:-bin/countersign}
if [[ -z "${CS_BIN:-}" ]]; then
	tags=${TAGS-$(make -s print-tags)}
	go build ${tags:+-tags "$tags"} -o bin/countersign ./cmd/countersign
	echo "built with tags: ${tags:-none (pure Go)}"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./bench/psbtfixture -n "$n" -dir "$work"
export COUNTERSIGN_DATA_DIR=$work/data
# A software key's passphrase for the bench only (scripts pass it this way).
export COUNTERSIGN_PASSPHRASE=bench-passphrase-not-secret
cs=("$bin" --network regtest)
"${cs[@]}" wallet create bench --descriptor "$(cat "$work/desc")" >/dev/null
"${cs[@]}" key import k1 --secret-file "$work/key1.tprv" >/dev/null
"${cs[@]}" key import k3 --secret-file "$work/key3.tprv" >/dev/null
ls -l "$work"/*.psbt | awk '{printf "%s %s bytes\n", $NF, $5}' | sed "s|$work/||"
echo "load before: $(uptime | sed 's/.*load average: //')"

summary=()
# timeit NAME CMD...: a warm-up, then $runs timed runs of CMD.
timeit() {
	local name=$1
	shift
	"$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	: >"$work/runs"
	for i in $(seq "$runs"); do
		/usr/bin/time -o "$work/time" -f "%e %U %S %M" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
		read -r wall user sys rss <"$work/time"
		printf '%s inputs, %-18s run %d: %s s wall, %s s user, %s s sys, %d MB max RSS\n' "$n" "$name" "$i" "$wall" "$user" "$sys" $((rss / 1024))
		echo "$wall $user $rss" >>"$work/runs"
	done
	local m=$(((runs + 1) / 2))
	local wmed wmin umed rmax
	wmed=$(cut -d' ' -f1 "$work/runs" | sort -n | sed -n "${m}p")
	wmin=$(cut -d' ' -f1 "$work/runs" | sort -n | head -1)
	umed=$(cut -d' ' -f2 "$work/runs" | sort -n | sed -n "${m}p")
	rmax=$(cut -d' ' -f3 "$work/runs" | sort -n | tail -1)
	summary+=("$(printf '%-18s median %s s wall (min %s), median %s s user, %d MB max RSS' "$name" "$wmed" "$wmin" "$umed" $((rmax / 1024)))")
}

timeit "psbt combine" "${cs[@]}" psbt combine "$work/part1.psbt" "$work/part2.psbt" "$work/part3.psbt" -o "$work/combined.psbt"
timeit "psbt finalize" "${cs[@]}" psbt finalize "$work/combined.psbt" -o "$work/tx.hex"
# Both in one process, as `psbt finalize` does given the three copies:
# each signature is verified once instead of once per command.
timeit "finalize 3 copies" "${cs[@]}" psbt finalize "$work/part1.psbt" "$work/part2.psbt" "$work/part3.psbt" -o "$work/tx1.hex"
cmp -s "$work/tx.hex" "$work/tx1.hex" || { echo "finalize of the three copies wrote another transaction" >&2; exit 1; }
timeit "psbt inspect" "${cs[@]}" psbt inspect "$work/combined.psbt"
timeit "sign (1st key)" "${cs[@]}" sign "$work/unsigned.psbt" --with key:k1 --yes -o "$work/signed1.psbt"
timeit "sign (3rd key)" "${cs[@]}" sign "$work/part12.psbt" --with key:k3 --yes -o "$work/signed3.psbt"
# Opening the key alone (age's scrypt): the part of `sign` that does not
# depend on the PSBT.
timeit "key open (KDF)" "${cs[@]}" key xpub k1 --path m
# The same key unlocked (`key unlock`): sign asks its agent, no scrypt.
"${cs[@]}" key unlock k1 --for 10m 2>/dev/null
trap '"${cs[@]}" key lock k1 >/dev/null 2>&1; rm -rf "$work"' EXIT
timeit "sign (unlocked)" "${cs[@]}" sign "$work/unsigned.psbt" --with key:k1 --yes -o "$work/signed1u.psbt"
"${cs[@]}" key lock k1 2>/dev/null
echo "load after: $(uptime | sed 's/.*load average: //')"
echo "summary ($n inputs, $runs runs):"
printf '  %s\n' "${summary[@]}"
