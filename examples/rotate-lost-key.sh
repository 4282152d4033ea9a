#!/usr/bin/env bash
# Key rotation: a cosigner's device is lost; replace its key and move every
# coin to the new wallet in one guided operation.
#
# Who it is for: anyone whose multisig has lost a key (a lost or broken
# device, a person who left). With 2-of-3 the coins are still safe, but one
# more loss would lock them; the fix is a new wallet without the lost key
# and every coin moved to it. `countersign wallet rotate` does the whole
# thing: it creates the successor wallet with the key replaced, registers it
# on the attached signers, and writes the sweep PSBT(s) that the remaining
# keys sign. The old wallet hands out no more addresses; once the sweep
# confirms, a sync marks it retired, and it is still watched: a payment
# that reaches it later is reported and swept too.
#
# Here the wallet is a 2-of-3 of Mum's Coldcard, Dad's Coldcard and the
# family's office software key. Dad's Coldcard is lost; a new software key,
# "spare", takes its place.
#
# Run it in the regtest playground, which provides the node, the emulated
# Coldcards, a faucet and a fresh data directory:
#   bin/countersign-demo run examples/rotate-lost-key.sh
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

section "1. The wallet, with savings in it"
capture -q devices countersign device list
mum=$(coldcard 1 "$devices")
dad=$(coldcard 2 "$devices")
[ -n "$mum" ] && [ -n "$dad" ] || die "two Coldcards must be attached"
quietly countersign key new office --network regtest --words 12
say "Keys: Mum's Coldcard ($mum), Dad's Coldcard ($dad) and the office software key."
run countersign --network regtest wallet create savings --threshold 2 \
	--device "$mum" --device "$dad" --device key:office
quietly countersign device register savings --with "$mum"
quietly countersign device register savings --with "$dad"
capture -q first countersign address savings
run faucet fund "$first" 0.3
capture -q second countersign address savings
run faucet fund "$second" 0.2
run faucet mine 1
run countersign wallet sync savings

section "2. Dad's Coldcard is lost: rotate its key out"
dad_fpr=${dad#coldcard:}
say "A new key takes its place; its owner writes its words on paper."
quietly countersign key new spare --network regtest --words 12
say "One command: sync, create the successor with the key replaced, register it on the"
say "attached signers that hold its keys, and write the sweep of every coin to it."
run countersign wallet rotate savings --replace "$dad_fpr" --key spare --fee-rate 2 -o sweep.psbt
say "From now on the old wallet hands out no addresses:"
if countersign address savings 2>/dev/null; then
	die "the rotated wallet still handed out an address"
fi
say "(refused, as expected). The sweep pays the successor wallet, and inspect says so:"
run countersign psbt inspect sweep.psbt

section "3. The two remaining keys sign the sweep"
run countersign sign sweep.psbt --with "$mum" -o sweep-mum.psbt
run countersign sign sweep.psbt --with key:office --yes -o sweep-office.psbt
run countersign psbt combine sweep-mum.psbt sweep-office.psbt -o sweep-signed.psbt
run countersign psbt finalize sweep-signed.psbt -o sweep.tx
run countersign psbt broadcast sweep.tx
run faucet mine 1

section "4. The old wallet retires; the coins are in the successor"
capture synced countersign wallet sync savings
check "$(grep -c 'is now retired' <<<"$synced")" = 1 "the sync retired the old wallet"
run countersign wallet sync savings-2
capture balance countersign wallet balance savings-2
check "$(awk '/^Confirmed:/ { print ($2 > 0.499 && $2 < 0.5) }' <<<"$balance")" = 1 "0.5 BTC less the fee in the successor"
capture list countersign wallet list
check "$(grep -c 'retired -> savings-2' <<<"$list")" = 1 "wallet list shows the old wallet retired"

section "5. A late payment to the old wallet is noticed and swept"
say "A customer still has the old first address and pays it."
run faucet fund "$first" 0.05
run faucet mine 1
capture synced countersign wallet sync savings
check "$(grep -c 'LATE PAYMENT' <<<"$synced")" = 1 "the late payment is reported"
run countersign wallet rotate savings --fee-rate 2 -o late.psbt
run countersign sign late.psbt --with "$mum" -o late-mum.psbt
run countersign sign late.psbt --with key:office --yes -o late-office.psbt
run countersign psbt combine late-mum.psbt late-office.psbt -o late-signed.psbt
run countersign psbt finalize late-signed.psbt -o late.tx
run countersign psbt broadcast late.tx
run faucet mine 1
run countersign wallet sync savings
run countersign wallet sync savings-2
capture balance countersign wallet balance savings-2
check "$(awk '/^Confirmed:/ { print ($2 > 0.549 && $2 < 0.55) }' <<<"$balance")" = 1 "the late coin joined the successor"

section "6. Back up the successor"
run countersign wallet export savings-2 --format pdf -o savings-2-backup.pdf
run countersign wallet export savings-2 --format descriptor -o savings-2-backup.txt
say "Done: Dad's lost key can no longer move anything; print savings-2-backup.pdf for the drawer."
