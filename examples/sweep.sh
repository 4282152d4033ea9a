#!/usr/bin/env bash
# Sweep: move every coin of an old wallet into a new one with --send-all.
#
# Who it is for: anyone retiring a multisig wallet — a cosigner has left, a
# key may be exposed, or an old nested-segwit (P2SH-P2WSH) wallet is moved
# to native segwit. `countersign spend OLD --send-all ADDRESS` spends every
# coin (or only the --utxo coins you pick) to one address with no change
# output, the fee taken from the total; the old cosigners sign as for any
# payment.
#
# Here the old wallet is a 2-of-3 P2SH-P2WSH of three software keys (alice,
# bob, carol). Carol has left, so the new wallet is a 2-of-3 P2WSH of the two
# Coldcards and a new key for dave.
#
# Run it in the regtest playground, which provides the node, the emulated
# Coldcards, a faucet and a fresh data directory:
#   bin/countersign-demo run examples/sweep.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

# quietly runs a command and shows its output only if it fails.
quietly() {
	local out
	out=$("$@" 2>&1) || {
		printf '%s\n' "$out" >&2
		return 1
	}
}

section "1. The old wallet, with coins in it"
for who in alice bob carol; do
	quietly countersign key new "$who" --network regtest --words 12
done
say "Keys alice, bob and carol exist (made quietly; see demo.sh for key new)."
run countersign --network regtest wallet create old --threshold 2 --script sh-wsh \
	--device key:alice --device key:bob --device key:carol
for amount in 0.1 0.2 0.05; do
	capture -q a countersign address old
	run faucet fund "$a" "$amount"
done
run faucet mine 1
run countersign wallet sync old
run countersign wallet utxos old

section "2. The new wallet"
capture -q devices countersign device list
cc1=$(coldcard 1 "$devices")
cc2=$(coldcard 2 "$devices")
[ -n "$cc1" ] && [ -n "$cc2" ] || die "two Coldcards must be attached"
quietly countersign key new dave --network regtest --words 12
run countersign --network regtest wallet create new --threshold 2 --device "$cc1" --device "$cc2" --device key:dave
run countersign device register new --with "$cc1"
run countersign device register new --with "$cc2"
say "The destination is checked on a device of the new wallet before anything is sent to it."
capture destination countersign address new --verify-on "$cc1"

section "3. Sweep"
say "--send-all: every coin, one output, no change; the fee comes out of the total."
run countersign spend old --send-all "$destination" --fee-rate 3 -o sweep.psbt
capture summary countersign psbt inspect sweep.psbt
check "$(grep -c 'change to' <<<"$summary" || true)" -eq 0 "a sweep has no change output"
check "$(grep -c ' ours ' <<<"$summary")" -eq 3 "all three coins are swept"

say "Two of the old cosigners sign; carol is not needed."
run countersign sign sweep.psbt --with key:alice --yes -o sweep-alice.psbt
run countersign sign sweep.psbt --with key:bob --yes -o sweep-bob.psbt
run countersign psbt combine sweep-alice.psbt sweep-bob.psbt -o sweep-signed.psbt
run countersign psbt finalize sweep-signed.psbt -o sweep.tx
run countersign psbt broadcast sweep.tx
run faucet mine 1

section "4. Afterwards"
run countersign wallet sync old
capture old countersign wallet balance old
check "$(awk '/^Total:/ { print ($2 == 0) }' <<<"$old")" = 1 "the old wallet is empty"
run countersign wallet sync new
capture new countersign wallet balance new
check "$(awk '/^Confirmed:/ { print ($2 > 0.349 && $2 < 0.35) }' <<<"$new")" = 1 "0.35 BTC less the fee arrived"
say "The old wallet is empty; it can be deleted with: countersign wallet delete old --yes"
