package wallet

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
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

// BenchmarkApplySync30000 stores a first sync of a treasury-scale wallet:
// 30,000 transactions and 30,000 UTXOs in one store transaction.
func BenchmarkApplySync30000(b *testing.B) {
	const n = 30_000
	upd := SyncUpdate{Height: 200, Hash: chainhash.Hash{1}, ReceiveHighWater: 10_000}
	for i := 0; i < n; i++ {
		id := chainhash.Hash{byte(i), byte(i >> 8), byte(i >> 16), 7}
		raw := make([]byte, 190)
		upd.Txs = append(upd.Txs, Tx{TxID: id, Height: 100 + int32(i%10), Raw: raw, Net: 10_000})
		upd.UTXOs = append(upd.UTXOs, UTXO{OutPoint: wire.OutPoint{Hash: id}, Value: 10_000, PkScript: make([]byte, 34), Index: uint32(i % 10_000), Height: 100})
	}
	ctx := context.Background()
	var cpu time.Duration // this process's CPU time in ApplySync: steadier than wall on a shared machine
	for b.Loop() {
		b.StopTimer()
		s := newStore(b)
		mustCreate(b, s, "w")
		b.StartTimer()
		c0 := cpuTime()
		if err := s.ApplySync(ctx, "w", upd); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
