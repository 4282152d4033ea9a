#!/usr/bin/env bash
# Treasury 2-of-3, scripted end to end.
#
# Who it is for: a company's finance or operations team that pays from a
# 2-of-3 multisig wallet through scripts. Two officers hold Coldcards; the
# third key is a software key on the ops machine, the spare. Every command
# below takes all its input from flags, answers in JSON (--json), never
# prompts, and reports failure through its exit code (0 ok, 1 failed, 2 bad
# input, 3 not found, 4 refused by a safety check, 5 signer error); jq picks
# the fields.
#
# Requires: jq
#
# Run it in the regtest playground, which provides the node, the emulated
# Coldcards, a faucet and a fresh data directory:
#   bin/countersign-demo run examples/treasury-2of3.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground
command -v jq >/dev/null 2>&1 || die "this script needs jq (Debian: apt-get install jq)"

section "Signers"
say "The officers' Coldcards, by fingerprint, from the device list."
capture -q devices countersign --json device list
mapfile -t coldcards < <(jq -r '.[] | select(.type == "coldcard" and (.error // "") == "") | "coldcard:" + .fingerprint' <<<"$devices")
check "${#coldcards[@]}" -ge 2 "two Coldcards must be attached"
officer1=${coldcards[0]} officer2=${coldcards[1]}
say "officer 1: $officer1, officer 2: $officer2"

say "The ops key; its 24 words go straight to a file for the company safe, never to the screen."
capture -q key countersign --json key new ops --network regtest --words 24
(umask 077 && jq -r .mnemonic <<<"$key" >ops-recovery-words.txt)
check "$(wc -w <ops-recovery-words.txt)" -eq 24 "24 recovery words"
say "ops key fingerprint $(jq -r .fingerprint <<<"$key")"

section "Wallet"
capture -q wallet countersign --json --network regtest wallet create treasury --threshold 2 \
	--device "$officer1" --device "$officer2" --device key:ops
jq -c '{policy, script, network, cosigners: [.cosigners[] | .label + " " + .fingerprint]}' <<<"$wallet"
check "$(jq -r .policy <<<"$wallet")" = "2 of 3" "a 2-of-3 wallet"

for cc in "$officer1" "$officer2"; do
	capture -q reg countersign --json device register treasury --with "$cc"
	check "$(jq -r .registered <<<"$reg")" = true "registered on $cc"
done
say "Registrations on record: $(countersign --json wallet show treasury | jq '[.cosigners[].registrations[]] | length')"

say "The config as the Coldcard setup file and as a descriptor, for the records."
run countersign wallet export treasury --format coldcard -o treasury-coldcard.txt
capture -q backup countersign --json wallet export treasury --format descriptor
check "$(jq -r .content <<<"$backup")" = "$(jq -r .descriptor <<<"$wallet")" "the backup is the wallet's descriptor"

section "Receive two customer payments"
for invoice in 1041 1042; do
	capture -q a countersign --json address treasury --label "invoice $invoice"
	run faucet fund "$(jq -r .address <<<"$a")" 0.3
done
say "Officer 1 checks the first address on the Coldcard's screen."
capture -q v countersign --json address treasury --index 0 --verify-on "$officer1"
check "$(jq -r '.[0].verified_on' <<<"$v")" = "$officer1" "address verified on $officer1"
run faucet mine 1
capture -q synced countersign --json wallet sync treasury
jq -c '{height, utxos, confirmed_sat}' <<<"$synced"
check "$(jq .confirmed_sat <<<"$synced")" -eq 60000000 "0.6 BTC received"

section "Pay two suppliers in one transaction"
s1=$(faucet address) s2=$(faucet address)
capture -q draft countersign --json spend treasury --to "$s1:0.25" --to "$s2:10000000sat" \
	--fee-rate 4 --note "supplier run" -o suppliers.psbt
jq -c '.summary | {sent, fee, fee_rate, change, ready_to_finalize}' <<<"$draft"
check "$(jq .summary.sent <<<"$draft")" -eq 35000000 "0.35 BTC to send"
fee=$(jq .summary.fee <<<"$draft")

say "Officer 1 signs on the Coldcard, the ops key signs second (each in place, on the same file)."
capture -q s countersign --json sign suppliers.psbt --with "$officer1"
check "$(jq .ready_to_finalize <<<"$s")" = false "one signature is not enough"

say "A script can tell a refusal from a failure by the exit code: finalizing now is refused (4)."
code=0
countersign --json psbt finalize suppliers.psbt >/dev/null 2>finalize-error.json || code=$?
check "$code" -eq 4 "finalize with one signature exits 4"
jq -r '"exit \(.exit_code): \(.error)"' finalize-error.json

capture -q s countersign --json sign suppliers.psbt --with key:ops --yes
check "$(jq .ready_to_finalize <<<"$s")" = true "ready after two signatures"
capture -q inspect countersign --json psbt inspect suppliers.psbt
jq -c '{signed_by: [.inputs[0].signatures[].fingerprint], missing: .inputs[0].missing}' <<<"$inspect"

section "Finalize, broadcast, confirm"
capture -q final countersign --json psbt finalize suppliers.psbt -o suppliers.tx
capture -q sent countersign --json psbt broadcast suppliers.tx
check "$(jq -r .txid <<<"$sent")" = "$(jq -r .txid <<<"$final")" "broadcast the finalized transaction"
say "broadcast $(jq -r .txid <<<"$sent")"
run faucet mine 1

capture -q synced countersign --json wallet sync treasury
capture -q balance countersign --json wallet balance treasury
jq -c '{confirmed_sat, unconfirmed_sat}' <<<"$balance"
check "$(jq .confirmed_sat <<<"$balance")" -eq $((60000000 - 35000000 - fee)) "balance = received - sent - fee"
capture -q history countersign --json wallet history treasury
jq -r '.[] | "\(.txid[0:16])…  height \(.height)  net \(.net_sat) sat"' <<<"$history"
say "Treasury run complete."
