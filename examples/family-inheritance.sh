#!/usr/bin/env bash
# A family's inheritance plan: Mum, Dad and their daughter share a 2-of-3
# wallet, and a recovery path lets the family lawyer (or the daughter alone)
# spend a coin that has not moved for a while.
#
# Who it is for: anyone whose multisig must outlive its key holders. A
# 2-of-3 fails its purpose the day two keys are gone; here the wallet is a
# miniscript, wsh(or_d(multi(2,mum,dad,daughter),and_v(v:multi(1,lawyer,
# daughter'),older(20)))): any two of the three at any time, or, 20 blocks
# after a coin confirms (52560, about a year, in real life), one of the
# lawyer and the daughter's second key. The script walks the whole life of
# the plan: creation, the everyday spend, the yearly refresh that keeps the
# recovery path shut while the parents are around, the recovery path
# refused while locked (exit 4, with the block it opens at), and the heir's
# spend once it opens.
#
# All four keys are software keys here (each would live on its owner's
# computer); hardware signers that register miniscript policies are not
# used by this script.
#
# Run it in the regtest playground, which provides the node, a faucet and a
# fresh data directory:
#   bin/countersign-demo run examples/family-inheritance.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

section "1. Four keys"
for who in mum dad daughter lawyer; do
	capture -q words countersign key new "$who" --network regtest --words 12
	say "$who writes down 12 words ($(wc -w <<<"$words") here)"
done
capture -q lawyer_key countersign key xpub lawyer --path m/48h/1h/0h/2h --network regtest

section "2. The wallet: 2 of 3 now, the lawyer or the daughter alone after 20 blocks"
run countersign --network regtest wallet create family --threshold 2 \
	--device key:mum --device key:dad --device key:daughter \
	--recovery-cosigner "lawyer=$lawyer_key" \
	--recovery "after 20 blocks: 1 of lawyer,daughter"
say "wallet show explains each spending path in words."
capture show countersign wallet show family
check "$(grep -c 'recovery: *any 1 of lawyer, daughter, 20 blocks after the coin confirms' <<<"$show")" = 1 "the recovery path is explained"
run countersign wallet export family --format descriptor -o family-backup.txt

section "3. Savings arrive"
capture -q address countersign address family
run faucet fund "$address" 1
run faucet mine 1
run countersign wallet sync family
run countersign wallet status family --warn-blocks 5

section "4. An everyday payment: Mum and Dad sign"
payee=$(faucet address)
run countersign spend family --to "$payee:0.1" --fee-rate 2 -o pay.psbt
run countersign sign pay.psbt --with key:mum --yes -o pay-mum.psbt
run countersign sign pay-mum.psbt --with key:dad --yes -o pay-signed.psbt
run countersign psbt finalize pay-signed.psbt -o pay.tx
run countersign psbt broadcast pay.tx
run faucet mine 1
run countersign wallet sync family

section "5. Time passes: the yearly refresh keeps the recovery path shut"
run faucet mine 16
run countersign wallet sync family
capture status countersign wallet status family --warn-blocks 5
check "$(grep -c WARNING <<<"$status")" = 1 "the coin is close to its recovery opening"
say "The parents move the coin to the wallet again: its 20-block lock starts over."
run countersign wallet refresh family --warn-blocks 5 --fee-rate 2 -o refresh.psbt
run countersign sign refresh.psbt --with key:mum --yes -o refresh-mum.psbt
run countersign sign refresh-mum.psbt --with key:dad --yes -o refresh-signed.psbt
run countersign psbt finalize refresh-signed.psbt -o refresh.tx
run countersign psbt broadcast refresh.tx
run faucet mine 1
run countersign wallet sync family
run countersign wallet status family --warn-blocks 5

section "6. The parents are gone: the lawyer tries too early"
set +e
countersign spend family --path recovery --send-all "$payee" --fee-rate 2 -o heir.psbt 2>early.txt
code=$?
set -e
cat early.txt
check "$code" = 4 "the locked recovery path is refused with exit 4"
check "$(grep -c 'opens at block' early.txt)" = 1 "the refusal names the opening height"

section "7. The lock opens: the lawyer alone spends"
run faucet mine 20
run countersign wallet sync family
run countersign wallet show family
run countersign spend family --path recovery --send-all "$payee" --fee-rate 2 -o heir.psbt
run countersign sign heir.psbt --with key:lawyer --yes -o heir-signed.psbt
run countersign psbt finalize heir-signed.psbt -o heir.tx
run countersign psbt broadcast heir.tx
run faucet mine 1
run countersign wallet sync family
capture balance countersign wallet balance family
check "$(awk '/^Confirmed:/ { print ($2 == 0) }' <<<"$balance")" = 1 "the lawyer moved everything"
say "Inherited: one key and the recovery path were enough once the lock opened."
