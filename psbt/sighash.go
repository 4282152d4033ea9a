package psbt

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/internal/secp"
)

// inputState is what one pass over a packet learns about an input. It is
// computed once per operation so that no check repeats per signature.
type inputState struct {
	prevOut   *wire.TxOut // the output spent; nil when unknown or untrustworthy
	prevErr   error       // why prevOut is nil (wraps ErrRefused)
	spend     *spend      // nil when the scripts do not resolve
	spendErr  error       // why spend is nil (wraps ErrRefused)
	finalized bool

	sighash    []byte // SIGHASH_ALL digest, filled by computeSighashes
	sighashErr error
}

// analysis is a packet with its per-input states and, for segwit inputs,
// the transaction's BIP-143 midstate computed once (txscript.TxSigHashes),
// so that every sighash after it costs a constant amount of hashing.
type analysis struct {
	p         *bpsbt.Packet
	tx        *wire.MsgTx
	in        []inputState
	fetcher   prevOutFetcher
	sigHashes *txscript.TxSigHashes
	memo      *Memo // verifications remembered across the process (nil: none)
}

// prevOutFetcher serves prevouts to txscript. Unknown outpoints get an
// empty output rather than nil: txscript dereferences what it is given.
type prevOutFetcher map[wire.OutPoint]*wire.TxOut

func (f prevOutFetcher) FetchPrevOutput(op wire.OutPoint) *wire.TxOut {
	if o, ok := f[op]; ok {
		return o
	}
	return &wire.TxOut{}
}

// analyze resolves every input's prevout and scripts. The packet must have
// passed checkShape. memo (may be nil) remembers signature checks.
func analyze(p *bpsbt.Packet, memo *Memo) *analysis {
	a := &analysis{
		p:       p,
		memo:    memo,
		tx:      p.UnsignedTx,
		in:      make([]inputState, len(p.Inputs)),
		fetcher: make(prevOutFetcher, len(p.Inputs)),
	}
	parallelFor(len(p.Inputs), func(i int) {
		st := &a.in[i]
		in := &p.Inputs[i]
		st.finalized = isFinalized(in)
		st.prevOut, st.prevErr = resolvePrevOut(in, a.tx.TxIn[i].PreviousOutPoint, i)
		if st.prevErr != nil {
			return
		}
		if st.finalized {
			return
		}
		st.spend, st.spendErr = resolveSpend(in, st.prevOut, i)
		if st.spend != nil && st.spend.mini != nil {
			st.spend.ms.m = miniscriptRequired(st.spend.mini, st.spend.ms.keys, inputLocks(a.tx, i))
		}
	})
	for i := range a.in {
		if a.in[i].prevOut != nil {
			a.fetcher[a.tx.TxIn[i].PreviousOutPoint] = a.in[i].prevOut
		}
	}
	a.sigHashes = txscript.NewTxSigHashes(a.tx, a.fetcher)
	return a
}

// computeSighashes fills the SIGHASH_ALL digest of every resolved input
// (BIP-143 for sh-wsh and wsh, the legacy algorithm for sh). Only inputs
// for which need returns true are computed.
func (a *analysis) computeSighashes(need func(i int) bool) {
	parallelFor(len(a.in), func(i int) {
		st := &a.in[i]
		if st.spend == nil || st.sighash != nil || !need(i) {
			return
		}
		st.sighash, st.sighashErr = a.sighashAll(i)
	})
}

func (a *analysis) sighashAll(i int) ([]byte, error) {
	st := &a.in[i]
	if st.spend.kind == kindTr {
		// The key path's digest; leaves have their own (tapSighash).
		return a.tapSighash(i, nil)
	}
	if st.spend.kind.segwit() {
		return txscript.CalcWitnessSigHash(st.spend.script, a.sigHashes, txscript.SigHashAll, a.tx, i, st.prevOut.Value)
	}
	return txscript.CalcSignatureHash(st.spend.script, txscript.SigHashAll, a.tx, i)
}

// verifySignature checks one partial signature: SIGHASH_ALL, strict DER,
// low S (both required for relay), and a valid ECDSA signature of sighash
// by pub. The curve arithmetic is internal/secp's (libsecp256k1 when
// built with it, else btcec).
func verifySignature(sighash, pub, sig []byte) error {
	if err := checkSigEncoding(sig); err != nil {
		return err
	}
	if secp.VerifyECDSA(sighash, pub, sig[:len(sig)-1]) {
		return nil
	}
	// Say which part is wrong.
	if _, err := ecdsa.ParseDERSignature(sig[:len(sig)-1]); err != nil {
		return fmt.Errorf("signature does not parse: %v", err)
	}
	if !secp.ValidPubKey(pub) {
		return errors.New("public key does not parse: it is not a point on secp256k1 in a compressed or uncompressed encoding")
	}
	return errors.New("signature does not verify against this transaction's sighash")
}

// checkSigEncoding checks what a signature must be before any curve
// arithmetic: SIGHASH_ALL, strict DER, low S.
func checkSigEncoding(sig []byte) error {
	if len(sig) == 0 {
		return errors.New("empty signature")
	}
	if ht := txscript.SigHashType(sig[len(sig)-1]); ht != txscript.SigHashAll {
		return fmt.Errorf("signature uses sighash type 0x%02x; countersign accepts only SIGHASH_ALL (0x01)", byte(ht))
	}
	if !strictDER(sig) {
		return errors.New("signature is not strict DER (BIP-66)")
	}
	if !lowS(sig) {
		return errors.New("signature has a high S value (not standard; BIP-146 low S is required)")
	}
	return nil
}

// lowS reports whether the S value of a strict-DER signature (with its
// sighash byte) is at most half the group order.
func lowS(sig []byte) bool {
	lenR := int(sig[3])
	lenS := int(sig[5+lenR])
	var s btcec.ModNScalar
	b := sig[6+lenR : 6+lenR+lenS]
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 32 || s.SetByteSlice(b) {
		return false
	}
	return !s.IsOverHalfOrder()
}

// parallelFor runs fn(0..n-1) on all available cores. Each index is handled
// by exactly one goroutine; fn must only write state owned by its index.
func parallelFor(n int, fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	// Below a few dozen items the goroutines cost more than they save.
	if workers <= 1 || n < 32 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
