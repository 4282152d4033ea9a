package wallet

import (
	"context"
	"testing"
)

// BenchmarkNextAddress measures one handed-out address: an IMMEDIATE
// transaction with a synchronous (fsynced) WAL commit.
func BenchmarkNextAddress(b *testing.B) {
	s := newStore(b)
	mustCreate(b, s, "w")
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, ""); err != nil {
			b.Fatal(err)
		}
	}
}
