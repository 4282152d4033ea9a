#!/usr/bin/env bash
# A family's 3-of-5 savings wallet: setup, backups, and recovery after two
# keys are lost.
#
# Who it is for: families and partners who share a joint wallet. Mum and Dad
# each hold a Coldcard; three software keys belong to a grown-up daughter,
# an uncle and the family's lawyer (each key would live on its owner's own
# computer; here they share one data directory for brevity). Any three of
# the five can spend, so the wallet survives losing any two keys — this
# script proves it: after both Coldcards are lost, a fresh computer restores
# the wallet from the backup file and the three remaining keys' recovery
# words, and spends.
#
# The backup is exported in every format countersign writes (descriptor,
# Bitcoin Core, Coldcard, Caravan, Sparrow/Specter, BIP-129 BSMS) and each
# one is imported again to check that it restores exactly the same wallet.
#
# Run it in the regtest playground, which provides the node, the emulated
# Coldcards, a faucet and a fresh data directory:
#   bin/countersign-demo run examples/family-3of5.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

section "1. Five keys"
capture -q devices countersign device list
mum=$(coldcard 1 "$devices")
dad=$(coldcard 2 "$devices")
[ -n "$mum" ] && [ -n "$dad" ] || die "Mum's and Dad's Coldcards must be attached"
say "Mum's Coldcard is $mum, Dad's is $dad."

say "Three software keys. Each owner writes the 12 words on paper; the folder paper/ stands in for it."
mkdir -p paper
for who in daughter uncle lawyer; do
	capture -q words countersign key new "$who" --network regtest --words 12
	(umask 077 && printf '%s\n' "$words" >"paper/$who.txt")
	say "$who's words are on paper/$who.txt ($(wc -w <"paper/$who.txt") words)"
done

section "2. The 3-of-5 wallet"
run countersign --network regtest wallet create family --threshold 3 \
	--device "$mum" --device "$dad" --device key:daughter --device key:uncle --device key:lawyer
run countersign device register family --with "$mum"
run countersign device register family --with "$dad"
say "Both parents check the first receive address on their own Coldcard."
capture address countersign address family --verify-on "$mum"
run countersign device address family --index 0 --with "$dad"

section "3. Backups in every format, each checked by importing it again"
run countersign wallet export family --format descriptor -o family-backup.txt
for format in descriptor core coldcard caravan specter bsms; do
	run countersign wallet export family --format "$format" -o "family.$format"
	# A scratch data directory, so the copies do not mix with the real wallet.
	countersign --data-dir check --network regtest wallet import "family-$format" --file "family.$format" >/dev/null 2>&1 ||
		die "the $format backup does not import"
	restored=$(countersign --data-dir check wallet export "family-$format" --format descriptor)
	check "$restored" = "$(cat family-backup.txt)" "the $format backup restores the same wallet"
	say "family.$format imports back as the same 3-of-5 wallet"
done
rm -rf check

section "4. Savings arrive"
run faucet fund "$address" 0.7
capture -q address2 countersign address family
run faucet fund "$address2" 0.3
run faucet mine 1
run countersign wallet sync family
run countersign wallet balance family

section "5. Disaster: both Coldcards are lost, and this computer with them"
say "A new computer: an empty data directory, no Coldcards attached, nothing but paper."
export COUNTERSIGN_DATA_DIR=$PWD/new-computer COUNTERSIGN_EMULATORS=0
say "Restore the wallet from the backup file (public keys only: it cannot spend on its own)."
run countersign wallet import family --file family-backup.txt --network regtest
say "The three remaining key holders type in their words."
for who in daughter uncle lawyer; do
	run countersign key import "$who" --secret-file "paper/$who.txt" --network regtest
done
say "The chain still holds the coins: a sync finds them from the descriptor alone."
run countersign wallet sync family
capture balance countersign wallet balance family
check "$(awk '/^Confirmed:/ { print ($2 == 1) }' <<<"$balance")" = 1 "1 BTC found again"

section "6. Spend with the three remaining keys"
payee=$(faucet address)
run countersign spend family --to "$payee:0.4" --fee-rate 3 -o move.psbt
for who in daughter uncle lawyer; do
	run countersign sign move.psbt --with "key:$who" --yes -o "move-$who.psbt"
done
run countersign psbt combine move-daughter.psbt move-uncle.psbt move-lawyer.psbt -o move-signed.psbt
run countersign psbt finalize move-signed.psbt -o move.tx
run countersign psbt broadcast move.tx
run faucet mine 1
run countersign wallet sync family
capture balance countersign wallet balance family
check "$(awk '/^Confirmed:/ { print ($2 > 0.59 && $2 < 0.6) }' <<<"$balance")" = 1 "0.6 BTC less the fee left"
say "Recovered: three of five keys and the backup file were enough."
