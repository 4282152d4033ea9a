#!/usr/bin/env bash
# countersign in ten minutes: a 2-of-3 multisig wallet made of two Coldcards
# and a software key, from creation to a confirmed payment.
#
# Who it is for: anyone trying countersign for the first time. Run
#
#     make demo
#
# It builds countersign, starts a private regtest node (btcd), two emulated
# Coldcards and a faucet on this machine, and runs this script with them.
# Every step is a real countersign command, printed before it runs, so you
# can repeat any of them with your own devices. The emulators approve on
# their own where a real Coldcard would ask you to check the screen and
# press OK.
#
# The playground sets COUNTERSIGN_DATA_DIR (a fresh data directory),
# COUNTERSIGN_BACKEND (the regtest node), COUNTERSIGN_EMULATORS=1 and
# COUNTERSIGN_COLDCARD_SOCKET (the emulated Coldcards), and
# COUNTERSIGN_PASSPHRASE (the software key's passphrase, so nothing
# prompts), and puts `faucet` on PATH: it pays test coins and mines blocks.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

section "1. The signers"
say "countersign finds hardware signers over USB; here two emulated Coldcards stand in for them."
capture devices countersign device list
cc1=$(coldcard 1 "$devices") # coldcard:<fingerprint>, from the list above
cc2=$(coldcard 2 "$devices")
[ -n "$cc1" ] && [ -n "$cc2" ] || die "expected two Coldcards in the list above"

say "The third cosigner is a software key, kept on this computer and encrypted with a passphrase."
say "Its recovery words are printed once, now and never again: with a real wallet, write them down."
run countersign key new office --network regtest --words 12
say "From now on the key is only listed; the words are stored nowhere in readable form."
run countersign key list

section "2. Create the 2-of-3 wallet"
say "Each cosigner contributes its BIP-48 multisig key (m/48h/1h/0h/2h); any 2 of the 3 can spend."
run countersign --network regtest wallet create demo --threshold 2 \
	--device "$cc1" --device "$cc2" --device key:office

say "A Coldcard signs only for multisig wallets it has enrolled; it shows every key for you to check."
run countersign device register demo --with "$cc1"
run countersign device register demo --with "$cc2"

say "Back up the wallet config (public keys only); with it, any 2 of the 3 keys restore the wallet."
run countersign wallet export demo --format descriptor -o demo-backup.txt

section "3. Receive coins"
say "Hand out the first receive address, and check it on a Coldcard's screen before anyone pays to it."
capture address countersign address demo --verify-on "$cc1"

say "The faucet plays a customer paying 0.5 BTC to that address, then a miner confirming it."
run faucet fund "$address" 0.5
run faucet mine 1

say "Scan the chain for the wallet's coins, then show the balance."
run countersign wallet sync demo
run countersign wallet balance demo

section "4. Pay someone 0.2 BTC"
say "The faucet makes up an address of a stranger: a supplier to pay."
capture payee faucet address

say "Build an unsigned PSBT at 5 sat/vB; the change goes back to the wallet."
run countersign spend demo --to "$payee:0.2" --fee-rate 5 -o pay.psbt

say "Anyone can check a PSBT before signing: what it pays, the fee, and who still has to sign."
run countersign psbt inspect pay.psbt

section "5. Two cosigners sign"
say "Each Coldcard shows the payment and signs its own copy; countersign verifies every signature."
run countersign sign pay.psbt --with "$cc1" -o pay-cc1.psbt
run countersign sign pay.psbt --with "$cc2" -o pay-cc2.psbt

say "Merge the signed copies: 2 of 3 signatures make it ready to finalize."
run countersign psbt combine pay-cc1.psbt pay-cc2.psbt -o pay-signed.psbt

section "6. Finalize and broadcast"
say "Finalizing builds the transaction and runs every input's script before anything is sent."
run countersign psbt finalize pay-signed.psbt -o pay.tx
run countersign psbt broadcast pay.tx
run faucet mine 1

section "7. The result"
run countersign wallet sync demo
run countersign wallet balance demo
run countersign wallet history demo

say "Done: 0.5 BTC received, 0.2 BTC paid with two Coldcard signatures, the change back in the wallet."
say "The office key was never needed: it is the spare that lets you recover if a Coldcard is lost."
say "Signers with a camera (Keystone, SeedSigner, Passport, Jade, Krux, Coldcard Q) sign by QR code:"
say "bin/countersign-demo run examples/camera-signer.sh shows one, emulated, as a cosigner."
