package regtest

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStartStop measures starting a node (cached binary) until its
// RPC answers, and stopping it.
func BenchmarkStartStop(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := EnsureBtcd(ctx, ""); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := StartNode(ctx, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstFund measures the first Fund on a fresh node, which mines
// the 101 blocks that make a coinbase spendable.
func BenchmarkFirstFund(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n, err := StartNode(ctx, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := n.Fund(ctx, n.Address(), 100_000); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
