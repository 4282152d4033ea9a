package psbt

import (
	"sync"

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
	sigs    map[string]error            // sighash || pubkey || signature: the verification's result
	keys    map[string]bool             // SEC1 public keys known to be points
	derived map[string]*derivationCache // by descriptor and network
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{sigs: make(map[string]error), keys: make(map[string]bool), derived: make(map[string]*derivationCache)}
}

// verify is verifySignature, remembered.
func (m *Memo) verify(sighash, pub, sig []byte) error {
	if m == nil {
		return verifySignature(sighash, pub, sig)
	}
	k := make([]byte, 0, len(sighash)+len(pub)+len(sig)+2)
	k = append(append(append(append(append(k, sighash...), byte(len(pub))), pub...), byte(len(sig))), sig...)
	m.mu.Lock()
	err, ok := m.sigs[string(k)]
	m.mu.Unlock()
	if ok {
		return err
	}
	err = verifySignature(sighash, pub, sig)
	m.mu.Lock()
	m.sigs[string(k)] = err
	if err == nil {
		m.keys[string(pub)] = true // a key a signature verified against is a point
	}
	m.mu.Unlock()
	return err
}

// validKey reports whether pub is a public key on the curve (see
// secp.ValidPubKey), remembered.
func (m *Memo) validKey(pub []byte) bool {
	if m == nil {
		return secp.ValidPubKey(pub)
	}
	m.mu.Lock()
	ok := m.keys[string(pub)]
	m.mu.Unlock()
	if ok {
		return true
	}
	if !secp.ValidPubKey(pub) {
		return false
	}
	m.mu.Lock()
	m.keys[string(pub)] = true
	m.mu.Unlock()
	return true
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
