#!/usr/bin/env bash
# A camera signer as a cosigner: everything travels as QR codes.
#
# Who it is for: holders of a Keystone, Passport, SeedSigner, Jade (QR
# mode), Krux or Coldcard Q, signers that never touch a computer and read
# and show QR codes instead. At a terminal, `countersign sign --with qr`
# animates the PSBT on the screen for the device's camera and reads the
# signed PSBT back from a USB QR scanner (one part a line); `--qr-out DIR`
# writes the codes as PNG frames, a GIF and parts.txt instead, and the
# answer comes back from a pipe or from pictures (`--from-image`).
#
# In this run there is no camera and no screen: the signer is
# `countersign-emulator qrsigner`, a SeedSigner-like emulator that reads the
# parts countersign wrote (parts.txt) and writes its answer as parts,
# which are piped back into countersign. Its seed is one of BIP-39's
# published test mnemonics ("letter advice cage ..."; the playground's
# Coldcards use two others): never use it for real coins. The
# wallet is 2-of-3: the camera signer, a Coldcard on USB and an office
# software key.
#
# Run it in the regtest playground, which provides the node, the emulated
# Coldcards, a faucet and a fresh data directory:
#   bin/countersign-demo run examples/camera-signer.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
playground

words="letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
camera() { countersign-emulator qrsigner --mnemonic "$words" --network regtest "$@"; }

section "1. The camera signer shows its multisig key"
say "(On the device: Export Xpub, multisig. Scanned, it is one ur:crypto-account; here the emulator prints it.)"
capture account camera --export-account
printf '%s\n' "$account" >camera-account.txt
say "countersign reads the scan, says it is one cosigner and not a whole wallet, and prints its key:"
if countersign wallet import probe --file camera-account.txt 2>import.txt; then
	die "a cosigner's key export was imported as a wallet"
fi
cat import.txt
key=$(sed -n "s/^hint: wsh wallet: .*--cosigner '\([^']*\)'.*/\1/p" import.txt)
check -n "$key" "no wsh key in the import's hints"

section "2. The 2-of-3 wallet"
capture -q devices countersign device list
usb=$(coldcard 1 "$devices")
[ -n "$usb" ] || die "a Coldcard must be attached over USB"
run countersign key new office --network regtest --words 12
run countersign --network regtest wallet create camera --threshold 2 \
	--cosigner "camera=$key" --device "$usb" --device key:office
run countersign device register camera --with "$usb"
say "The camera signer enrols the wallet from its QR code (crypto-output); at a terminal it is animated"
say "until Enter, here it is written as files."
run countersign device register camera --with qr --qr-out qr-wallet

section "3. Receive"
capture address countersign address camera --verify-on "$usb"
run faucet fund "$address" 0.4
run faucet mine 1
run countersign wallet sync camera

section "4. Pay: the Coldcard by USB, the camera signer by QR"
payee=$(faucet address)
run countersign spend camera --to "$payee:0.15" --fee-rate 4 -o pay.psbt
run countersign sign pay.psbt --with "$usb" -o pay-cc.psbt
say "Without a terminal, the PSBT's QR codes are written to qr-pay/ and the signature stays pending."
run countersign sign pay.psbt --with qr --qr-out qr-pay
ls qr-pay
say "The camera signer scans the wallet, then the PSBT, checks the change is the wallet's, and shows"
say "the signed PSBT (its screen is on stderr, its answer parts on stdout):"
cat qr-wallet/parts.txt qr-pay/parts.txt >camera-scans.txt
run camera <camera-scans.txt >camera-answer.txt
say "Its answer, one part a line, goes back into countersign as a scanner would type it:"
run countersign sign pay.psbt --with qr -o pay-camera.psbt <camera-answer.txt

run countersign psbt combine pay-cc.psbt pay-camera.psbt -o pay-signed.psbt
run countersign psbt finalize pay-signed.psbt -o pay.tx
run countersign psbt broadcast pay.tx
run faucet mine 1
run countersign wallet sync camera
capture -q balance countersign --json wallet balance camera
confirmed=$(sed -n 's/.*"confirmed_sat": *\([0-9]*\).*/\1/p' <<<"$balance")
check "${confirmed:-0}" -gt 24000000 "the change did not come back: $balance"
say "Done: paid 0.15 BTC with a Coldcard signature and a camera signer's, the change back in the wallet."
