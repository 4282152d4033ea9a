#!/usr/bin/env bash
# A 2-of-3 taproot wallet: the MuSig2 key path when all three sign, the
# script leaf when only two can.
#
# Who it is for: a treasury that wants its everyday payments to look like
# single-key payments on chain (smaller, cheaper, private) and keep a 2-of-3
# fallback. `wallet create --script tr` builds
#   tr(musig(A,B,C)/<0;1>/*, sortedmulti_a(2, A/<0;1>/*, B/<0;1>/*, C/<0;1>/*))
# The key path is a MuSig2 aggregate of all three keys (BIP-327): each
# cosigner signs twice, first a public nonce, then (once every nonce is in
# the PSBT) a partial signature. The leaf is the 2-of-3 fallback. Three
# software keys stand in for the cosigners; then a second wallet has an
# emulated Ledger (Bitcoin app 2.4) as its third cosigner: registered as a
# wallet policy, an address checked on it, a payment by the leaf signed
# by the Ledger and one software key, and one by the MuSig2 key path with
# the Ledger taking part in both rounds.
#
# Requires: jq
#
# Run it in the regtest playground, which provides the node, a faucet and a
# fresh data directory:
#   bin/countersign-demo run examples/taproot-musig2.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground
command -v jq >/dev/null 2>&1 || die "this script needs jq (Debian: apt-get install jq)"

section "Keys and wallet"
for who in anna ben cleo; do
	countersign key new "$who" --network regtest --words 12 >/dev/null 2>&1
done
say "Keys anna, ben and cleo exist (see demo.sh for key new)."
capture -q wallet countersign --json --network regtest wallet create tap --script tr --threshold 2 \
	--device key:anna --device key:ben --device key:cleo
jq -r '.spending_paths[]' <<<"$wallet"
check "$(jq -r .script <<<"$wallet")" = tr "a taproot wallet"
check "$(jq -r '.spending_paths | length' <<<"$wallet")" -eq 2 "a key path and one leaf"

section "Receive"
capture -q a countersign --json address tap
addr=$(jq -r .address <<<"$a")
check "${addr:0:6}" = bcrt1p "a taproot (bcrt1p) address"
run faucet fund "$addr" 0.5
run faucet mine 1
capture -q synced countersign --json wallet sync tap
check "$(jq .confirmed_sat <<<"$synced")" -eq 50000000 "0.5 BTC received"

section "Pay by the MuSig2 key path: two rounds, three cosigners"
to=$(faucet address)
run countersign spend tap --to "$to:0.2" --fee-rate 3 -o pay.psbt
for who in anna ben cleo; do
	run countersign sign pay.psbt --with "key:$who" --yes
done
capture -q i countersign --json psbt inspect pay.psbt
jq -c '.inputs[0].musig2' <<<"$i"
check "$(jq '.inputs[0].musig2.nonces' <<<"$i")" -eq 3 "round 1: three public nonces"
for who in anna ben cleo; do
	run countersign sign pay.psbt --with "key:$who" --yes
done
capture -q i countersign --json psbt inspect pay.psbt
check "$(jq '.inputs[0].musig2.partial_signatures' <<<"$i")" -eq 3 "round 2: three partial signatures"
check "$(jq .ready_to_finalize <<<"$i")" = true "ready to finalize"
capture -q final countersign --json psbt finalize pay.psbt -o pay.tx
capture -q sent countersign --json psbt broadcast pay.tx
say "broadcast $(jq -r .txid <<<"$sent"): one 64-byte signature, like any single-key payment"
run faucet mine 1
capture -q synced countersign --json wallet sync tap

section "Pay by the script leaf: cleo is away"
run countersign spend tap --to "$to:0.1" --fee-rate 3 -o fallback.psbt
run countersign sign fallback.psbt --with key:anna --yes
capture -q s countersign --json sign fallback.psbt --with key:ben --yes
check "$(jq .ready_to_finalize <<<"$s")" = true "two leaf signatures are enough"
capture -q final countersign --json psbt finalize fallback.psbt -o fallback.tx
capture -q sent countersign --json psbt broadcast fallback.tx
run faucet mine 1
capture -q synced countersign --json wallet sync tap
capture -q balance countersign --json wallet balance tap
jq -c '{confirmed_sat, unconfirmed_sat}' <<<"$balance"
check "$(jq .confirmed_sat <<<"$balance")" -gt 19000000 "the change came back"
section "A Ledger as the third cosigner"
say "An emulated Ledger running the Bitcoin app 2.4 stands in for the device (it approves on its own)."
ledger_emulator 2.4.6 "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"
ledger=$LEDGER
say "Ledger $ledger is listening at $COUNTERSIGN_LEDGER_SPECULOS."
run countersign --network regtest wallet create vault --script tr --threshold 2 \
	--device key:anna --device key:ben --device "ledger:$ledger"
say "The Ledger learns the wallet as a policy, tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**)), and proves it with an HMAC countersign keeps."
run countersign device register vault --with "ledger:$ledger"
capture -q a countersign --json address vault --verify-on "ledger:$ledger"
vaddr=$(jq -r .address <<<"$a")
say "The Ledger showed $vaddr, the address countersign derived."
run faucet fund "$vaddr" 0.3
run faucet mine 1
run countersign wallet sync vault
run countersign spend vault --to "$to:0.1" --fee-rate 3 -o vault.psbt
run countersign sign vault.psbt --with key:anna --yes
capture -q s countersign --json sign vault.psbt --with "ledger:$ledger" --yes
check "$(jq .ready_to_finalize <<<"$s")" = true "anna and the Ledger sign the leaf"
capture -q final countersign --json psbt finalize vault.psbt -o vault.tx
capture -q sent countersign --json psbt broadcast vault.tx
run faucet mine 1
capture -q synced countersign --json wallet sync vault
check "$(jq .confirmed_sat <<<"$synced")" -gt 19000000 "the change came back to the vault"

section "The Ledger in the MuSig2 key path"
say "The Ledger takes part in both rounds: a nonce first, then (once every nonce is in) its partial signature."
run countersign spend vault --to "$to:0.05" --fee-rate 3 -o vkey.psbt
for who in key:anna key:ben "ledger:$ledger"; do
	run countersign sign vkey.psbt --with "$who" --yes
done
capture -q i countersign --json psbt inspect vkey.psbt
check "$(jq '.inputs[0].musig2.nonces' <<<"$i")" -eq 3 "round 1: three public nonces, one from the Ledger"
for who in key:anna key:ben "ledger:$ledger"; do
	run countersign sign vkey.psbt --with "$who" --yes
done
capture -q i countersign --json psbt inspect vkey.psbt
check "$(jq '.inputs[0].musig2.partial_signatures' <<<"$i")" -eq 3 "round 2: three partial signatures"
capture -q final countersign --json psbt finalize vkey.psbt -o vkey.tx
capture -q sent countersign --json psbt broadcast vkey.tx
run faucet mine 1
capture -q synced countersign --json wallet sync vault
say "Sent $(jq -r .txid <<<"$sent") by the key path: one signature made by two software keys and a Ledger together."
say "Taproot run complete."
