package psbt

import (
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
)

// SigVerifier checks signatures a signer returned against the packet's own
// previous outputs and scripts (never the signer's copy), with the BIP-143
// midstate computed once, so checking every input of a large PSBT costs
// linear hashing. Device drivers use it to refuse a bad signature with the
// device named; Combine checks again whatever it merges.
type SigVerifier struct{ a *analysis }

// NewSigVerifier prepares p's inputs for Verify. p must not change while
// the verifier is used.
func NewSigVerifier(p *bpsbt.Packet) (*SigVerifier, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	return &SigVerifier{a: analyze(p, nil)}, nil
}

// Verify checks that pub is a key of input i's script and that sig (strict
// DER, low S, SIGHASH_ALL byte) is pub's valid signature of the input.
func (v *SigVerifier) Verify(i int, pub, sig []byte) error {
	if i < 0 || i >= len(v.a.in) {
		return fmt.Errorf("input %d: the PSBT has %d inputs", i, len(v.a.in))
	}
	st := &v.a.in[i]
	switch {
	case st.prevErr != nil:
		return st.prevErr
	case st.spendErr != nil:
		return st.spendErr
	case st.spend == nil:
		return errors.New("the input is already finalized")
	case st.spend.kind == kindTr:
		return errors.New("the input is taproot: its signatures are BIP-340 Schnorr signatures in taproot fields, not ECDSA partial signatures")
	case st.spend.ms.indexOf(pub) < 0:
		return fmt.Errorf("key %x is not a key of the input's script", pub)
	}
	h, err := v.a.sighashAll(i)
	if err != nil {
		return fmt.Errorf("sighash: %w", err)
	}
	return v.a.memo.verify(h, pub, sig)
}
