package hwtest

import (
	"context"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"

	"github.com/countersign/countersign/psbt"
)

// MemNonces is an in-memory psbt.NonceStore for the software cosigners of
// a MuSig2 driver test, erasing a secret nonce when it is taken (as
// hw/soft's store does).
type MemNonces struct {
	mu sync.Mutex
	m  map[[32]byte][musig2.SecNonceSize]byte
}

// Save keeps a secret nonce under id.
func (s *MemNonces) Save(_ context.Context, id [32]byte, sec [musig2.SecNonceSize]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte][musig2.SecNonceSize]byte{}
	}
	s.m[id] = sec
	return nil
}

// Take returns the nonce kept under id and forgets it; psbt.ErrNonceUsed
// when there is none.
func (s *MemNonces) Take(_ context.Context, id [32]byte) ([musig2.SecNonceSize]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.m[id]
	if !ok {
		return sec, psbt.ErrNonceUsed
	}
	delete(s.m, id)
	return sec, nil
}
