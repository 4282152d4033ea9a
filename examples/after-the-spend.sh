#!/usr/bin/env bash
# After the spend: pending spends, a stuck payment bumped, the audit
# journal signed and verified, a spending policy.
#
# Who it is for: treasury staff in the days after a payment is drafted.
# Who still has to sign (`psbt list`)? The payment went out at 1 sat/vB and
# sits in the mempool: replace it with one paying more (`psbt bump`),
# which every cosigner signs again. Who did what (`journal`), and can we
# show nobody rewrote that record (`journal verify`, `journal sign`)? And
# a rule the software keeps: no more than 0.3 BTC a payment, 0.5 a day
# (`policy set`), which a board can override with a reason on record.
#
# Here the wallet is a 2-of-3 of three software keys (alice, bob, carol).
#
# Requires: jq
#
# Run it in the regtest playground:
#   bin/countersign-demo run examples/after-the-spend.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground
command -v jq >/dev/null 2>&1 || die "this script needs jq (Debian: apt-get install jq)"

section "1. A wallet with a policy"
for who in alice bob carol; do
	countersign key new "$who" --network regtest --words 12 >/dev/null 2>&1
done
say "Keys alice, bob and carol exist (see demo.sh for key new)."
run countersign --network regtest wallet create treasury --threshold 2 \
	--device key:alice --device key:bob --device key:carol
capture -q a countersign --json address treasury --label "top-up from the bank"
run faucet fund "$(jq -r .address <<<"$a")" 1
run faucet mine 1
run countersign wallet sync treasury
run countersign policy set treasury --per-tx-limit 0.3 --daily-limit 0.5
say "The policy binds countersign only: a cosigner signing with another tool is not held by it."

section "2. A payment, signed apart, followed in psbt list"
capture -q payee faucet address
capture -q spend countersign --json spend treasury --to "$payee:0.2" --fee-rate 1 \
	--note "supplier invoice 117" -o pay.psbt
id=$(jq -r .draft_id <<<"$spend")
say "alice and bob each sign their own copy; the store merges what they add."
run countersign sign pay.psbt --with key:alice --yes -o pay-alice.psbt
run countersign psbt list treasury
run countersign sign pay.psbt --with key:bob --yes -o pay-bob.psbt
capture -q listed countersign --json psbt list treasury
check "$(jq -r ".[] | select(.id == \"$id\") | .state" <<<"$listed")" = ready "two of three signed: ready"
run countersign psbt show "$id" -o pay-signed.psbt
run countersign psbt finalize pay-signed.psbt -o pay.tx
capture txid countersign psbt broadcast pay.tx

section "3. Stuck at 1 sat/vB: bump it to 10"
capture -q bump countersign --json psbt bump "$txid" --fee-rate 10 -o bump.psbt
jq -c '{replaces_broadcast_txid, old_fee, min_fee, fee: .summary.fee, fee_rate: .summary.fee_rate, needs_signatures}' <<<"$bump"
bump_id=$(jq -r .draft_id <<<"$bump")
say "The replacement pays the same 0.2 BTC and needs both signatures again."
run countersign sign bump.psbt --with key:alice --yes -o bump-alice.psbt
run countersign sign bump.psbt --with key:carol --yes -o bump-carol.psbt
run countersign psbt show "$bump_id" -o bump-signed.psbt
run countersign psbt finalize bump-signed.psbt -o bump.tx
capture bumped countersign psbt broadcast bump.tx
run faucet mine 1
run countersign wallet sync treasury
run countersign psbt list treasury --all
capture -q listed countersign --json psbt list treasury --all
check "$(jq -r ".[] | select(.id == \"$id\") | .state" <<<"$listed")" = replaced "the original was replaced"
check "$(jq -r ".[] | select(.id == \"$bump_id\") | .state" <<<"$listed")" = confirmed "the bump confirmed"

section "4. The policy at work"
say "0.4 BTC is over the 0.3 BTC per-payment limit: refused with exit 4 and the rule named."
set +e
countersign spend treasury --to "$payee:0.4" --fee-rate 2 -o big.psbt
code=$?
set -e
check "$code" -eq 4 "a payment over the limit is refused (exit 4)"
say "The board approves it: --override-policy records the reason in the journal."
run countersign spend treasury --to "$payee:0.4" --fee-rate 2 -o big.psbt \
	--override-policy "board approval, minutes 2025-03"
run countersign policy show treasury

section "5. The audit journal"
run countersign journal treasury
run countersign journal verify
say "alice vouches for the journal as it stands: a Bitcoin signed message over its head hash."
run countersign journal sign --with key:alice --yes -o journal-head.sig.json
run countersign journal verify --signature journal-head.sig.json
run countersign journal export -o journal.jsonl
say "Labels (BIP-329) and the accountant's CSV:"
run countersign label export treasury -o labels.jsonl
run countersign wallet history treasury --csv
