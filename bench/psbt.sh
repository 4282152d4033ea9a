#!/usr/bin/env bash
# Time `countersign psbt inspect` and `psbt finalize` of a 3-of-5 wsh PSBT
# with N inputs (default 500; also try 2000), signed by three cosigners, as
# whole processes: five runs each after a warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
go build -o bin/countersign ./cmd/countersign
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./bench/psbtfixture -n "$n" -dir "$work"
export COUNTERSIGN_DATA_DIR=$work/data
bin/countersign --network regtest wallet create bench --descriptor "$(cat "$work/desc")" >/dev/null
for cmd in "psbt inspect $work/signed.psbt" "psbt finalize $work/signed.psbt -o $work/tx.hex"; do
	bin/countersign $cmd >/dev/null 2>&1
	for i in 1 2 3 4 5; do
		/usr/bin/time -o "$work/time" -f "$n inputs, $(echo "$cmd" | cut -d' ' -f1-2) run $i: %e s wall, %U s user" bin/countersign $cmd >/dev/null 2>&1 || true
		cat "$work/time"
	done
done
