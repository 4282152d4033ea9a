package hw

// Miniscript wallets (wsh(MINISCRIPT), issue 18) reach a device only where
// countersign knows the device handles them. Software keys sign any script
// the psbt package understands; file and QR signers hand the PSBT to an
// outside signer, which decides for itself. The Ledger driver registers
// wsh(MINISCRIPT) as a wallet policy (the Bitcoin app has miniscript since
// 2.1.0; hw/ledger checks the app version for what a policy uses), and the
// Coldcard driver enrols it from the descriptor on EDGE firmware (it
// checks the firmware version itself). The other hardware drivers
// register and show m-of-n multisig only, so they
// are refused here, before the device is asked anything, with the limit
// named: registering such a wallet as a multisig would show other
// addresses, or none.

// miniscriptLimit returns the refusal for a signer of the given type that
// cannot work with a miniscript wallet, or nil.
func miniscriptLimit(s *Signer, wallet string) error {
	var limit string
	switch s.info.Type {
	case "key", "file", "qr", "ledger":
		return nil
	case "coldcard":
		// The driver knows the device's firmware and refuses by version
		// (hw/coldcard/miniscript.go: EDGE 6.2.2X and later enrol it).
		return nil
	case "trezor":
		limit = "Trezor firmware signs m-of-n multisig scripts only (no miniscript, no time locks), so it cannot show or sign for a recovery path"
	case "jade":
		limit = "countersign registers Jade wallets as m-of-n multisig only"
	case "bitbox02":
		// The driver holds wsh(MINISCRIPT) as a wallet policy and refuses
		// by firmware version (9.15.0) and shape (hw/bitbox02/miniscript.go).
		return nil
	default:
		limit = "countersign does not know whether this signer handles miniscript"
	}
	return Errorf(ErrUnsupported, "%s cannot hold wallet %q, a miniscript wallet with time-locked paths: %s; sign with software keys, or PSBT files or QR codes for a signer that takes miniscript", s.Name(), wallet, limit)
}

// checkMiniscript refuses a miniscript wallet on a signer that cannot
// handle it.
func (s *Signer) checkMiniscript(w *Wallet) error {
	if w == nil || !w.Descriptor.IsMiniscript() {
		return nil
	}
	return miniscriptLimit(s, w.Name)
}
