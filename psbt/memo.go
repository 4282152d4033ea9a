package psbt

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/secp"
)

// Memo is what one process has worked out about signatures, keys and its
// wallets and never needs to work out again, because the answer cannot
// change: whether a signature is valid for a sighash and a public key,
// which public keys are points on the curve, and the scripts a wallet's
// descriptor derives at a position.
//
// A command that reads three copies of a PSBT, runs the gate on each,
// combines them, runs the gate on the result and reports on it would
// otherwise verify every signature four times and derive every address
// five; with one Memo (the coordinator keeps one per process and passes it
// in WalletInfo) it verifies each signature once and derives each address
// once. Nothing is skipped: every check still asks, and the Memo answers
// with what the same check computed before, keyed by everything the answer
// depends on. It is safe for concurrent use. A nil *Memo remembers
// nothing (every check computes).
type Memo struct {
	mu      sync.Mutex
	sigs    map[[32]byte]error          // SHA-256 of sighash, pubkey and signature: the verification's result
	keys    map[string]bool             // SEC1 public keys known to be points
	derived map[string]*derivationCache // by descriptor and network

	verified, remembered int // signature checks computed, and answered from memory

	// ahead are the VerifyAhead jobs started; each channel is closed when
	// its job is done. verify waits for them first, so that no signature
	// is verified twice.
	ahead []chan struct{}
}

// MemoStats counts a Memo's work, for tests and benchmarks.
type MemoStats struct {
	// Verified is how many signature verifications were computed;
	// Remembered how many checks the Memo answered from memory.
	Verified, Remembered int
}

// Stats returns what m has done so far.
func (m *Memo) Stats() MemoStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoStats{Verified: m.verified, Remembered: m.remembered}
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{sigs: make(map[[32]byte]error), keys: make(map[string]bool), derived: make(map[string]*derivationCache)}
}

// VerifyAhead starts verifying, in the background, every partial
// signature of p's unfinalized ECDSA inputs (legacy and segwit v0) for a
// key in its input's script, and returns at once. The checks that ask the
// memo later (a step's gate, the combiner) then find the answers, while
// the work before them (a step's update, which derives the wallet's keys)
// has run on the other core meanwhile: at 500 inputs the verifications
// are half a step's CPU. It works on a snapshot of what the sighashes
// depend on (p's transaction and its inputs' records as they are now), so
// p may be changed afterwards; answers are remembered under the sighash,
// key and signature, so work done for a record changed since is never
// taken for the changed one. Nothing is skipped: verify answers from what
// the same verification computed.
func (m *Memo) VerifyAhead(p *bpsbt.Packet) {
	if m == nil || p == nil || checkShape(p) != nil {
		return
	}
	snap := &bpsbt.Packet{UnsignedTx: p.UnsignedTx, Inputs: slices.Clone(p.Inputs)}
	for i := range snap.Inputs {
		snap.Inputs[i].PartialSigs = slices.Clone(snap.Inputs[i].PartialSigs)
	}
	done := make(chan struct{})
	m.mu.Lock()
	// Finished jobs are dropped here, so a long-lived memo does not make
	// every verify walk the jobs of every step it ever ran.
	m.ahead = slices.DeleteFunc(m.ahead, func(c chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	})
	m.ahead = append(m.ahead, done)
	m.mu.Unlock()
	go func() {
		defer close(done)
		// No memo in the analysis: its checks must not wait for this job.
		a := analyze(snap, nil)
		need := func(i int) bool {
			st := &a.in[i]
			return len(snap.Inputs[i].PartialSigs) > 0 && !st.finalized && st.spend != nil && st.spend.kind != kindTr
		}
		a.computeSighashes(need)
		type check struct{ sighash, pub, sig []byte }
		var checks []check
		for i := range snap.Inputs {
			st := &a.in[i]
			if !need(i) || st.sighashErr != nil || st.sighash == nil {
				continue
			}
			for _, ps := range snap.Inputs[i].PartialSigs {
				if ps != nil && st.spend.ms.indexOf(ps.PubKey) >= 0 && checkSigEncoding(ps.Signature) == nil {
					checks = append(checks, check{st.sighash, ps.PubKey, ps.Signature})
				}
			}
		}
		parallelFor(len(checks), func(k int) {
			c := &checks[k]
			m.remember(c.sighash, c.pub, c.sig)
		})
	}()
}

// verify is verifySignature, remembered.
func (m *Memo) verify(sighash, pub, sig []byte) error {
	if m == nil {
		return verifySignature(sighash, pub, sig)
	}
	m.mu.Lock()
	ahead := m.ahead
	m.mu.Unlock()
	for _, done := range ahead {
		<-done
	}
	return m.remember(sighash, pub, sig)
}

// remember is verify without waiting for VerifyAhead's jobs (which call
// it).
func (m *Memo) remember(sighash, pub, sig []byte) error {
	// The lengths make the concatenation unambiguous; SHA-256 keeps the
	// key short (a 2,000-input PSBT has 6,000 signatures).
	h := sha256.New()
	h.Write([]byte{byte(len(sighash)), byte(len(pub)), byte(len(sig))})
	h.Write(sighash)
	h.Write(pub)
	h.Write(sig)
	var k [32]byte
	h.Sum(k[:0])
	m.mu.Lock()
	err, ok := m.sigs[k]
	if ok {
		m.remembered++
	}
	m.mu.Unlock()
	if ok {
		return err
	}
	err = verifySignature(sighash, pub, sig)
	m.mu.Lock()
	m.verified++
	m.sigs[k] = err
	if err == nil {
		m.keys[string(pub)] = true // a key a signature verified against is a point
	}
	m.mu.Unlock()
	return err
}

// knowValid records keys the caller knows are points: ones the wallet
// derived with curve arithmetic.
func (m *Memo) knowValid(pubs ...[]byte) {
	if m == nil {
		return
	}
	m.mu.Lock()
	for _, p := range pubs {
		m.keys[string(p)] = true
	}
	m.mu.Unlock()
}

// derivations returns the cache of one wallet's derived scripts, made on
// first use. id names the descriptor and network.
func (m *Memo) derivations(id string) *derivationCache {
	if m == nil {
		return &derivationCache{m: make(map[position]derivation)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.derived[id]
	if c == nil {
		c = &derivationCache{m: make(map[position]derivation)}
		m.derived[id] = c
	}
	return c
}

// derivationCache is one wallet's derived scripts by position.
type derivationCache struct {
	mu sync.Mutex
	m  map[position]derivation
}

// checkKeys checks that every partial-signature and BIP-32 public key of p
// is a point on the curve, each distinct key once: the keys m already knows
// (derived by the wallet, verified against, checked before) cost nothing,
// the others are checked on both cores. Decode leaves this to the first
// function that reads the packet (see Decode); every one that does calls
// this after deriving what the wallet claims, so that a wallet's own PSBT
// costs no square root. m must not be nil. Errors wrap ErrMalformed and
// name the record.
func (m *Memo) checkKeys(p *bpsbt.Packet) error {
	// where a key was found, for the message: input or output, index, and
	// whether it is a partial signature's.
	type where struct {
		output, sig bool
		i           int
		key         []byte
	}
	var todo []where
	m.mu.Lock()
	seen := make(map[string]bool)
	add := func(w where) {
		if !m.keys[string(w.key)] && !seen[string(w.key)] {
			seen[string(w.key)] = true
			todo = append(todo, w)
		}
	}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		for _, ps := range in.PartialSigs {
			if ps != nil {
				add(where{sig: true, i: i, key: ps.PubKey})
			}
		}
		for _, d := range in.Bip32Derivation {
			if d != nil {
				add(where{i: i, key: d.PubKey})
			}
		}
	}
	for j := range p.Outputs {
		for _, d := range p.Outputs[j].Bip32Derivation {
			if d != nil {
				add(where{output: true, i: j, key: d.PubKey})
			}
		}
	}
	m.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	bad := make([]bool, len(todo))
	parallelFor(len(todo), func(i int) { bad[i] = !secp.ValidPubKey(todo[i].key) })
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, w := range todo {
		if !bad[i] {
			m.keys[string(w.key)] = true
			continue
		}
		what := fmt.Sprintf("input %d: the BIP-32 derivation key", w.i)
		switch {
		case w.output:
			what = fmt.Sprintf("output %d: the BIP-32 derivation key", w.i)
		case w.sig:
			what = fmt.Sprintf("input %d: the partial signature key", w.i)
		}
		return malformed("%s %x is not a public key on secp256k1", what, w.key)
	}
	return nil
}

// withMemo returns w with a Memo: its own, or a new one for this call, so
// that what one call derives spares its own checks.
func (w WalletInfo) withMemo() WalletInfo {
	if w.Memo == nil {
		w.Memo = NewMemo()
	}
	return w
}

// DeriveRange is descriptor.DeriveRange through the memo: positions
// derived before in this process (by any step looking at the wallet) are
// not derived again, and what is derived here is kept for the steps after.
// d is a wallet's descriptor (either form: a receive or change descriptor
// stands for its wallet, as in WalletInfo). A nil Memo derives.
func (m *Memo) DeriveRange(d *descriptor.Descriptor, net *chaincfg.Params, branch, from, count uint32) ([]*descriptor.Derived, error) {
	if m == nil {
		return d.DeriveRange(branch, from, count, net)
	}
	v := newWalletView(WalletInfo{Descriptor: d, Network: net, Memo: m})
	if v == nil {
		return nil, badRequest("no descriptor or network to derive from")
	}
	ps := make([]position, 0, count)
	for i := uint64(from); i < uint64(from)+uint64(count); i++ {
		ps = append(ps, position{branch, uint32(i)})
	}
	v.prefetch(ps)
	out := make([]*descriptor.Derived, len(ps))
	for k, pos := range ps {
		dv, err := v.derive(pos)
		if err != nil {
			return nil, err
		}
		out[k] = dv
	}
	return out, nil
}
