#!/usr/bin/env bash
# A team on one PostgreSQL store: three operators, one treasury.
#
# Who it is for: a finance team whose staff work at their own terminals.
# alice, bob and carol each keep their own software key in their own data
# directory, and all three point countersign at one PostgreSQL database:
# addresses handed out at the same moment never collide, a payment alice
# drafts is signed by bob and carol at the same moment and the store merges
# both signatures, and the journal names who did what. Then carol works from
# home, with no access to the database: her own SQLite store, the wallet
# imported, and PSBTs passed over a Nostr relay, encrypted to each other.
#
# Requires: jq
# Store: postgres
# Relay: nostr
#
# Run it in the regtest playground with an empty database the operators
# may use, and a Nostr relay (your own: it sees who writes to whom):
#   bin/countersign-demo run examples/team-postgres.sh 'postgres://me@localhost/treasury' wss://relay.example
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground
command -v jq >/dev/null 2>&1 || die "this script needs jq (Debian: apt-get install jq)"
store=${1:-}
[ -n "$store" ] || die "give the PostgreSQL store as the first argument: postgres://USER@HOST/DATABASE"
relay=${2:-}
[ -n "$relay" ] || die "give a Nostr relay as the second argument: wss://HOST (section 5, carol at home)"

# as WHO ARGS... runs countersign at WHO's terminal: WHO's data directory
# (WHO's key), the shared store, WHO named in the journal.
as() {
	local who=$1
	shift
	COUNTERSIGN_DATA_DIR="$PWD/$who" countersign --store "$store" --operator "$who" "$@"
}

section "1. Three terminals, three keys, one wallet"
for who in alice bob carol; do
	mkdir -p "$who"
	COUNTERSIGN_DATA_DIR="$PWD/$who" countersign key new "$who" --network regtest --words 12 >/dev/null 2>&1
done
capture xb as bob key xpub bob --path m/48h/1h/0h/2h
capture xc as carol key xpub carol --path m/48h/1h/0h/2h
run as alice --network regtest wallet create treasury --threshold 2 \
	--device key:alice --cosigner "bob=$xb" --cosigner "carol=$xc"
capture -q show as bob --json store show
check "$(jq -r .engine <<<"$show")" = postgres "bob's terminal sees the PostgreSQL store"

section "2. Three addresses asked for at the same moment"
for who in alice bob carol; do
	as "$who" --json address treasury --label "for $who" >"addr-$who.json" &
done
wait
jq -c '{index, address}' addr-alice.json addr-bob.json addr-carol.json
check "$(jq -s 'map(.index) | unique | length' addr-*.json)" -eq 3 "three different indexes"

section "3. alice drafts a payment; bob and carol sign it at once"
run faucet fund "$(jq -r .address addr-alice.json)" 1
run faucet mine 1
run as alice wallet sync treasury
capture -q payee faucet address
capture -q spend as alice --json spend treasury --to "$payee:0.2" --fee-rate 2 -o pay.psbt
id=$(jq -r .draft_id <<<"$spend")
as bob sign pay.psbt --with key:bob --yes -o pay-bob.psbt &
as carol sign pay.psbt --with key:carol --yes -o pay-carol.psbt &
wait
capture -q listed as alice --json psbt list treasury
check "$(jq -r ".[] | select(.id == \"$id\") | .state" <<<"$listed")" = ready "both signatures merged in the store: ready"
run as alice psbt show "$id" -o pay-signed.psbt
run as alice psbt finalize pay-signed.psbt -o pay.tx
run as alice psbt broadcast pay.tx
run faucet mine 1
run as alice wallet sync treasury

section "4. Who did what"
say "journal --by filters: what carol did."
run as alice journal --by carol
say "The whole journal, read at the auditor's terminal (no --operator)."
mkdir -p auditor
capture -q j env COUNTERSIGN_DATA_DIR="$PWD/auditor" countersign --store "$store" --json journal treasury
check "$(jq '[.[].operator] | unique | length' <<<"$j")" -ge 3 "the journal names alice, bob and carol"
run as bob journal verify

section "5. carol at home: no database, PSBTs over a Nostr relay"
say "carol's own store at home (SQLite in her data directory), the wallet imported."
run as alice wallet export treasury --format descriptor -o treasury.txt
home() { COUNTERSIGN_DATA_DIR="$PWD/carol" countersign "$@"; }
run home --network regtest wallet import treasury --file treasury.txt
run home wallet sync treasury
say "Each side names the other's Nostr key (derived from their software key)."
capture npa as alice key npub alice
capture npc home key npub carol
run as alice wallet relay set treasury --relay "$relay" --key alice --cosigner "carol=$npc"
run home wallet relay set treasury --relay "$relay" --key carol --cosigner "alice=$npa"
say "alice drafts and signs a payment, and sends it to carol, encrypted to her key."
capture -q spend2 as alice --json spend treasury --to "$payee:0.1" --fee-rate 2 -o pay2.psbt
id2=$(jq -r .draft_id <<<"$spend2")
run as alice sign pay2.psbt --with key:alice --yes -o pay2-alice.psbt
run as alice psbt send "$id2" --to carol
say "At home, carol takes the new spend, signs it and sends it back."
capture -q got home --json psbt receive treasury --new
check "$(jq -r '.[0].outcome' <<<"$got")" = new "carol's store takes the spend alice sent"
home_id=$(jq -r '.[0].spend' <<<"$got")
run home psbt show "$home_id" -o pay2-home.psbt
run home sign pay2-home.psbt --with key:carol --yes -o pay2-carol.psbt
run home psbt send "$home_id" --to alice
say "alice receives it: merged into the draft, which is ready."
capture -q back as alice --json psbt receive treasury --wait 30s
check "$(jq -r '.[0].outcome' <<<"$back")" = merged "carol's signature merged"
check "$(jq -r '.[0].state' <<<"$back")" = ready "two signatures: ready"
run as alice psbt show "$id2" -o pay2-signed.psbt
run as alice psbt finalize pay2-signed.psbt -o pay2.tx
run as alice psbt broadcast pay2.tx
run faucet mine 1
run as alice wallet sync treasury
say "The relay saw who wrote to whom and when; the journal has each message."
capture -q j2 as alice --json journal treasury
jq -c '.[] | select(.action | startswith("relay.")) | {action: .action, operator: .operator, to: .detail.to, from: .detail["label"], outcome: .detail.outcome}' <<<"$j2"
check "$(jq '[.[] | select(.action == "relay.send")] | length' <<<"$j2")" -ge 1 "alice's send is on record"
