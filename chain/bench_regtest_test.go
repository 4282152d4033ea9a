package chain

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/regtest"
)

// BenchmarkBtcdSync40 measures a wallet sync against a real btcd: 40
// scripts, 6 of them funded (confirmed), ListUnspent plus History. It
// reports HTTP round trips per sync.
func BenchmarkBtcdSync40(b *testing.B) {
	node := regtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	backend, err := Open(node.RPCURL())
	if err != nil {
		b.Fatal(err)
	}
	var scripts [][]byte
	for i := uint32(0); i < 40; i++ {
		scripts = append(scripts, p2wshScript(witnessScript(200+i)))
	}
	for i := 0; i < 40; i += 7 {
		if _, err := node.FundScript(ctx, scripts[i], 50_000); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		b.Fatal(err)
	}
	if _, err := backend.Network(ctx); err != nil {
		b.Fatal(err)
	}
	counter := backend.(Counter)
	start := counter.RoundTrips()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := backend.ListUnspent(ctx, scripts); err != nil {
			b.Fatal(err)
		}
		if _, err := backend.History(ctx, scripts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(counter.RoundTrips()-start)/float64(b.N), "roundtrips/op")
}
