#!/usr/bin/env bash
# Recovery drill: lose two keys of a 3-of-5 and the computer, and get the
# money back from the backup alone.
#
# Who it is for: anyone who keeps a multisig and wants to know, not hope,
# that the backup works. Run a drill like this one once a year. A 3-of-5
# survives the loss of any n-m = 2 keys; this script loses two keys and the
# whole data directory, then restores the wallet on an empty one from the
# encrypted BIP-129 (BSMS) backup alone, finds every coin, the history and
# the next receive index again with `wallet sync --full`, and spends with
# the three remaining keys. The restored wallet is checked against what
# the lost computer knew, and against the plain descriptor backup.
#
# Run it in the regtest playground, which provides the node, a faucet and a
# fresh data directory:
#   bin/countersign-demo run examples/recovery-drill.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

# field prints one number field of a --json object (no jq needed).
field() { sed -n "s/.*\"$1\": *\([0-9-]*\).*/\1/p" | head -n1; }

section "1. Five keys, a 3-of-5 wallet"
say "Five software keys; each owner writes the words on paper (the folder paper/ stands in for it)."
mkdir -p paper
for who in ana ben cas dee eli; do
	capture -q words countersign key new "$who" --network regtest --words 12
	(umask 077 && printf '%s\n' "$words" >"paper/$who.txt")
done
run countersign --network regtest wallet create drill --threshold 3 \
	--device key:ana --device key:ben --device key:cas --device key:dee --device key:eli

section "2. The backups"
say "A BSMS token protects the backup file; it is written on paper too, apart from the file."
capture -q tokens countersign bsms token
token=$(awk '/^Token/ { print $NF; exit }' <<<"$tokens")
(umask 077 && printf '%s\n' "$token" >paper/token.txt)
run countersign wallet export drill --format bsms --encrypt-file paper/token.txt -o drill-backup.dat
run countersign wallet export drill --format descriptor -o drill-backup.txt
say "And the page to print and keep in a drawer (name, policy, keys, descriptor as QR code):"
run countersign wallet export drill --format pdf -o drill-backup.pdf

section "3. A year of use"
for amount in 0.4 0.25 0.1; do
	capture -q a countersign address drill
	run faucet fund "$a" "$amount"
done
capture -q unused countersign address drill
run faucet mine 1
run countersign wallet sync drill
capture -q payee faucet address
run countersign spend drill --to "$payee:0.3" --fee-rate 2 -o pay.psbt
for who in ana ben cas; do
	run countersign sign pay.psbt --with "key:$who" --yes -o "pay-$who.psbt"
done
run countersign psbt combine pay-ana.psbt pay-ben.psbt pay-cas.psbt -o pay-signed.psbt
run countersign psbt finalize pay-signed.psbt -o pay.tx
run countersign psbt broadcast pay.tx
run faucet fund "$unused" 0.05
run faucet mine 1
capture -q before countersign --json wallet sync drill
capture -q history_before countersign --json wallet history drill --fields txid,height,net_sat,fee_sat,balance_sat
capture -q utxos_before countersign --json wallet utxos drill
say "The lost computer knew: $(field confirmed_sat <<<"$before") sat, next receive index $(field next_receive_index <<<"$before")."

section "4. Disaster: Ben's and Cas's keys are lost, and this computer with them"
export COUNTERSIGN_DATA_DIR=$PWD/new-computer
say "An empty data directory: nothing but the backup file and the papers."
run countersign wallet import drill --file drill-backup.dat --bsms-token-file paper/token.txt --network regtest
say "The wallet from the backup is the one the plain descriptor backup describes:"
capture restored countersign wallet export drill --format descriptor
check "$restored" = "$(cat drill-backup.txt)" "the encrypted backup restores the same wallet"
say "A full scan finds the coins, the history and how far the addresses were used."
capture -q after countersign --json wallet sync drill --full
for f in confirmed_sat next_receive_index next_change_index utxos; do
	check "$(field $f <<<"$after")" = "$(field $f <<<"$before")" "$f restored"
done
capture -q history_after countersign --json wallet history drill --fields txid,height,net_sat,fee_sat,balance_sat
check "$history_after" = "$history_before" "the history restored"
capture -q utxos_after countersign --json wallet utxos drill
check "$utxos_after" = "$utxos_before" "the coins restored"
say "Restored: $(field confirmed_sat <<<"$after") sat, next receive index $(field next_receive_index <<<"$after")."

section "5. The three remaining keys spend"
for who in ana dee eli; do
	run countersign key import "$who" --secret-file "paper/$who.txt" --network regtest
done
capture -q payee faucet address
run countersign spend drill --to "$payee:0.2" --fee-rate 2 -o move.psbt
for who in ana dee eli; do
	run countersign sign move.psbt --with "key:$who" --yes -o "move-$who.psbt"
done
run countersign psbt combine move-ana.psbt move-dee.psbt move-eli.psbt -o move-signed.psbt
run countersign psbt finalize move-signed.psbt -o move.tx
run countersign psbt broadcast move.tx
run faucet mine 1
run countersign wallet sync drill
run countersign wallet balance drill
say "Drill passed: the backup and any three of the five keys are enough."
