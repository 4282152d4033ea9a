#!/usr/bin/env bash
# An air-gapped Coldcard as a cosigner: everything travels on a microSD card.
#
# Who it is for: holders who keep one key on a Coldcard that never touches a
# computer over USB. The wallet config goes to the device as a Coldcard
# setup file on the card; each PSBT goes to the card with
# `countersign sign --with file:CARD`, the Coldcard signs it there and writes
# NAME-part.psbt back, and `countersign psbt combine` (or the waiting
# `sign --with file:CARD`) brings the signatures in, verifying every one.
#
# In this run the folder sdcard/ stands in for the card, and the
# air-gapped Coldcard is played by a software key in a data directory of its
# own (airgapped/): the coordinator's data directory never holds that key.
# The wallet is 2-of-3: the air-gapped Coldcard, a Coldcard on USB and an
# office software key.
#
# Run it in the regtest playground, which provides the node, the emulated
# Coldcards, a faucet and a fresh data directory:
#   bin/countersign-demo run examples/airgapped-sdcard.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

card=sdcard
mkdir -p "$card"

section "1. The air-gapped Coldcard exports its multisig key to the card"
say "(On a Coldcard: Settings > Multisig Wallets > Export XPUB. Here the stand-in makes a key and writes it out.)"
run countersign --data-dir airgapped key new vault-cc --network regtest --words 12
capture -q xpub countersign --data-dir airgapped key xpub vault-cc --path m/48h/1h/0h/2h
printf '%s\n' "$xpub" >"$card/vault-cc-xpub.txt"
say "$card/vault-cc-xpub.txt: $xpub"

section "2. The 2-of-3 wallet"
capture -q devices countersign device list
usb=$(coldcard 1 "$devices")
[ -n "$usb" ] || die "a Coldcard must be attached over USB"
run countersign key new office --network regtest --words 12
run countersign --network regtest wallet create vault --threshold 2 \
	--cosigner "airgapped=$(cat "$card/vault-cc-xpub.txt")" --device "$usb" --device key:office

say "Enroll the wallet on the air-gapped Coldcard: the setup file goes on the card..."
run countersign wallet export vault --format coldcard -o "$card/vault-coldcard.txt"
say "...and the Coldcard imports it (Settings > Multisig Wallets > Import from SD); the stand-in does the same."
run countersign --data-dir airgapped --network regtest wallet import vault --file "$card/vault-coldcard.txt"
say "The USB Coldcard enrolls it directly."
run countersign device register vault --with "$usb"

section "3. Receive"
capture address countersign address vault --verify-on "$usb"
run faucet fund "$address" 0.6
run faucet mine 1
run countersign wallet sync vault

section "4. Pay through the card, step by step"
payee=$(faucet address)
run countersign spend vault --to "$payee:0.25" --fee-rate 4 -o pay.psbt
say "Write the PSBT to the card and return at once (--no-wait): the card is walked to the Coldcard."
run countersign sign pay.psbt --with "file:$card" --no-wait
on_card=$(find "$card" -maxdepth 1 -name '*.psbt' ! -name '*-part.psbt' ! -name '*-signed.psbt')
[ "$(wc -l <<<"$on_card")" -eq 1 ] || die "expected one PSBT on the card, found: $on_card"
part=${on_card%.psbt}-part.psbt
say "The Coldcard signs $on_card and writes $part next to it."
run countersign --data-dir airgapped sign "$on_card" --with key:vault-cc --yes -o "$part"

say "Back at the computer: bring the Coldcard's signature in; combine verifies it."
run countersign psbt combine pay.psbt "$part" -o pay-airgapped.psbt
say "The office key adds the second signature."
run countersign sign pay-airgapped.psbt --with key:office --yes -o pay-signed.psbt
run countersign psbt finalize pay-signed.psbt -o pay.tx
run countersign psbt broadcast pay.tx
run faucet mine 1
run countersign wallet sync vault

section "5. Pay through the card, countersign waiting"
say "Without --no-wait, sign waits for the Coldcard's file to appear on the card and takes it in itself."
payee=$(faucet address)
run countersign spend vault --to "$payee:0.1" --fee-rate 4 -o pay2.psbt

# The stand-in Coldcard, in the background: it signs the first new PSBT
# that shows up on the card, as the device does once the card is inserted.
play_coldcard() {
	local f
	for _ in $(seq 300); do
		for f in "$card"/*.psbt; do
			case $f in *-part.psbt | *-signed.psbt) continue ;; esac
			[ -e "${f%.psbt}-part.psbt" ] && continue
			countersign --data-dir airgapped sign "$f" --with key:vault-cc --yes -o "${f%.psbt}-part.psbt" >/dev/null 2>&1
			return
		done
		sleep 0.1
	done
	return 1
}
play_coldcard &
coldcard_pid=$!
run countersign sign pay2.psbt --with "file:$card" -o pay2-airgapped.psbt
wait "$coldcard_pid" || die "the stand-in Coldcard did not sign"
run countersign sign pay2-airgapped.psbt --with "$usb" -o pay2-signed.psbt
run countersign psbt finalize pay2-signed.psbt -o pay2.tx
run countersign psbt broadcast pay2.tx
run faucet mine 1
run countersign wallet sync vault
capture balance countersign wallet balance vault
check "$(awk '/^Confirmed:/ { print ($2 > 0.249 && $2 < 0.25) }' <<<"$balance")" = 1 "0.25 BTC less two fees left"
say "On the card: $(cd "$card" && echo *)"
