package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw/jade"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// ErrPSBTTooLarge means a payment's PSBT is larger than the limit a signer
// takes. A sweep (--send-all) is split instead.
var ErrPSBTTooLarge = errors.New("the PSBT is larger than the signer takes")

// DeviceLimit is the largest PSBT, in serialized bytes, a kind of signer
// takes. A device that streams the transaction to itself piece by piece
// has no PSBT limit (Bytes 0).
type DeviceLimit struct {
	Kind   string // the signer kind, as --with and device registrations name it
	Bytes  int    // 0: no limit of its own
	Source string // where the figure comes from
}

// Device PSBT limits, from each vendor's firmware and documentation.
const (
	// ColdcardMk4PSBT is Coldcard Mk4's and Q's MAX_TXN_LEN_MK4
	// (2*1024*1024, Coldcard/firmware shared/public_constants.py; the
	// PSBT lives in PSRAM; docs/limitations.md "Max Transaction Size":
	// "we support PSBT files up to 2M bytes in size"). The Q's BBQr
	// reader refuses the same size (shared/qrs.py, "Too big").
	ColdcardMk4PSBT = 2 * 1024 * 1024
	// ColdcardMk3PSBT is the Mk3's MAX_TXN_LEN (384*1024, same file;
	// docs/limitations.md: "transactions up to 384k-bytes in size when
	// serialized into PSBT format").
	ColdcardMk3PSBT = 384 * 1024
)

// DeviceLimits lists every signer kind and the largest PSBT it takes.
func DeviceLimits() []DeviceLimit {
	return []DeviceLimit{
		{"coldcard", ColdcardMk4PSBT, "Coldcard Mk4/Q MAX_TXN_LEN_MK4 (Coldcard/firmware shared/public_constants.py)"},
		{"coldcard-mk3", ColdcardMk3PSBT, "Coldcard Mk3 MAX_TXN_LEN (Coldcard/firmware shared/public_constants.py)"},
		// Jade receives the whole PSBT in one CBOR sign_psbt message, which
		// must fit its input buffer: MAX_INPUT_MSG_SIZE, 401 KiB with
		// SPIRAM (Blockstream/Jade main/process.h), less the request's
		// own bytes (hw/jade.MaxPSBT).
		{"jade", jade.MaxPSBT, "Jade MAX_INPUT_MSG_SIZE, 401 KiB less the sign_psbt request (Blockstream/Jade main/process.h)"},
		// Ledger's Bitcoin app never holds the PSBT: the host keeps it
		// merkleized and the app asks for one key or value at a time
		// (LedgerHQ/app-bitcoin-new doc/bitcoin.md, "sign_psbt";
		// previous transactions are hashed as they stream).
		{"ledger", 0, "streamed: the app fetches merkleized PSBT fields one at a time (LedgerHQ/app-bitcoin-new doc/bitcoin.md)"},
		// Trezor takes no PSBT: it asks for each input, output and
		// previous transaction in TxRequest/TxAck rounds (trezor-firmware
		// docs/common/communication/bitcoin-signing.md: "Trezor cannot
		// store arbitrarily large transactions in memory").
		{"trezor", 0, "streamed: TxRequest/TxAck, one input, output or previous-transaction piece at a time (trezor-firmware bitcoin-signing.md)"},
		// BitBox02 likewise streams: BTCSignInit, then each input, output
		// and previous transaction (PREVTX_INIT, PREVTX_INPUT,
		// PREVTX_OUTPUT) on request (BitBoxSwiss/bitbox02-firmware
		// messages/btc.proto; hw/bitbox02/sign.go).
		{"bitbox02", 0, "streamed: BTCSignNext requests each input, output and previous transaction (bitbox02-firmware messages/btc.proto)"},
		// A file or QR signer is whatever device reads it: name that
		// device (--max-psbt-size coldcard) when it has a limit.
		{"file", 0, "a file: the limit is the reading device's; name it"},
		{"qr", 0, "a QR series: the limit is the scanning device's; name it"},
		{"key", 0, "a software key in this process"},
	}
}

// DevicePSBTLimit returns the limit of a signer kind (case-insensitive).
func DevicePSBTLimit(kind string) (DeviceLimit, bool) {
	k := strings.ToLower(strings.TrimSpace(kind))
	for _, d := range DeviceLimits() {
		if d.Kind == k {
			return d, true
		}
	}
	return DeviceLimit{}, false
}

// DeviceKinds names every kind DevicePSBTLimit knows, for messages.
func DeviceKinds() string {
	var ks []string
	for _, d := range DeviceLimits() {
		ks = append(ks, d.Kind)
	}
	return strings.Join(ks, ", ")
}

// PSBTLimit is the size a spend keeps each PSBT under, and why.
type PSBTLimit struct {
	Bytes  int    // 0: no limit
	Source string // "--max-psbt-size", a device kind's source, or "no device with a limit"
}

// partialSigBytes is what one partial signature adds to a PSBT (BIP-174
// PSBT_IN_PARTIAL_SIG): key length 1, key type 1, a 33-byte public key,
// value length 1, a DER signature of at most 72 bytes and the sighash
// byte.
const partialSigBytes = 1 + 1 + 33 + 1 + 72 + 1

// SignedSize is the size p reaches once every input holds m partial
// signatures, the most any signer or the combiner holds: a device that
// signs after others receives (and returns) their signatures too.
func SignedSize(p *bpsbt.Packet, m int) (int, error) {
	raw, err := psbt.Serialize(p)
	if err != nil {
		return 0, err
	}
	return signedSizeOf(len(raw), p, m), nil
}

// signedSizeOf is SignedSize of a PSBT whose serialization is n bytes.
func signedSizeOf(n int, p *bpsbt.Packet, m int) int {
	for _, in := range p.Inputs {
		if len(in.FinalScriptWitness) > 0 || len(in.FinalScriptSig) > 0 {
			continue
		}
		n += max(m-len(in.PartialSigs), 0) * partialSigBytes
	}
	return n
}

// spendLimit resolves the limit a spend keeps its PSBTs under: bytes when
// given (> 0), none when < 0, else the smallest limit of the device kinds
// registered for the wallet (none when no registered kind has one).
func (c *Coordinator) spendLimit(ctx context.Context, w *Wallet, bytes int, source string) (PSBTLimit, error) {
	switch {
	case bytes > 0:
		if source == "" {
			source = "--max-psbt-size"
		}
		return PSBTLimit{Bytes: bytes, Source: source}, nil
	case bytes < 0:
		return PSBTLimit{Source: "no limit (--max-psbt-size none)"}, nil
	}
	regs, err := c.Store.Registrations(ctx, w.Name)
	if err != nil {
		return PSBTLimit{}, err
	}
	lim := PSBTLimit{Source: "no registered device with a PSBT size limit"}
	for _, r := range regs {
		d, ok := DevicePSBTLimit(r.DeviceType)
		if ok && d.Bytes > 0 && (lim.Bytes == 0 || d.Bytes < lim.Bytes) {
			lim = PSBTLimit{Bytes: d.Bytes, Source: fmt.Sprintf("the %s registered for the wallet (%s)", d.Kind, d.Source)}
		}
	}
	return lim, nil
}

// sizeWarnings are inspect's warnings about a PSBT too large for a device
// kind: each kind named, and each registered for the wallet (w may be
// nil). Nothing refuses a PSBT for its size; the device would.
func (c *Coordinator) sizeWarnings(ctx context.Context, w *Wallet, p *bpsbt.Packet, named []string) ([]string, error) {
	kinds := slices.Clone(named)
	if w != nil {
		regs, err := c.Store.Registrations(ctx, w.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range regs {
			kinds = append(kinds, r.DeviceType)
		}
	}
	// The devices with a limit, each once; a signer that streams has none,
	// and a PSBT for signers that all stream needs no sizing (a 500-input
	// PSBT is 760 kB to serialize).
	var limits []DeviceLimit
	seen := map[string]bool{}
	for _, k := range kinds {
		d, ok := DevicePSBTLimit(k)
		if !ok {
			if slices.Contains(named, k) {
				return nil, fmt.Errorf("unknown device kind %q: %w; known: %s", k, wallet.ErrInvalid, DeviceKinds())
			}
			continue // a registration of a kind with no known limit
		}
		if !seen[d.Kind] && d.Bytes > 0 {
			seen[d.Kind] = true
			limits = append(limits, d)
		}
	}
	if len(limits) == 0 {
		return nil, nil
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		return nil, err
	}
	m := 0
	if w != nil {
		m = w.Descriptor.Threshold
	}
	signed := signedSizeOf(len(raw), p, m)
	var out []string
	for _, d := range limits {
		switch {
		case len(raw) > d.Bytes:
			out = append(out, fmt.Sprintf("the PSBT is %d bytes, over the %d bytes a %s takes (%s): split it with `countersign spend --send-all ADDR --max-psbt-size %s`, or spend fewer coins at a time",
				len(raw), d.Bytes, d.Kind, d.Source, d.Kind))
		case signed > d.Bytes:
			out = append(out, fmt.Sprintf("the PSBT is %d bytes now and reaches about %d bytes with the signatures it still needs, over the %d bytes a %s takes (%s)",
				len(raw), signed, d.Bytes, d.Kind, d.Source))
		}
	}
	return out, nil
}
