package psbt

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// benchSpend builds a 3-of-5 wsh(sortedmulti) PSBT spending nIn coins
// signed by cosigners A, B and C: the state a PSBT is in when it is
// finalized.
func benchSpend(b *testing.B, nIn int) (*testWallet, *bpsbt.Packet) {
	b.Helper()
	tw, p := wshSpend(b, 3, 5, nIn)
	tw.sign(b, p, 0, 1, 2)
	return tw, p
}

// wshSpend builds an unsigned m-of-n wsh(sortedmulti) PSBT spending nIn
// coins at receive indexes 0..nIn-1, each from its own previous
// transaction, to one external output. Keys come from fixed seeds. The
// PSBT is made by the creator and updater functions Build uses, without
// Build's standardness limit: 2,000 such inputs weigh more than a
// relayable transaction may.
func wshSpend(t testing.TB, m, n, nIn int) (*testWallet, *bpsbt.Packet) {
	t.Helper()
	tw := newTestWallet(t, descriptor.ScriptWsh, m, n, true)
	ds, err := tw.info.Descriptor.DeriveRange(0, 0, uint32(nIn), testNet)
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]wire.OutPoint, nIn)
	utxos := make([]UTXO, nIn)
	var total int64
	for i := range utxos {
		utxos[i] = utxoFor(ds[i], 0, uint32(i), 50_000+int64(i), i)
		ops[i] = utxos[i].OutPoint
		total += utxos[i].Value
	}
	p, err := createPacket(txVersion, 800_000, ops, SequenceRBF, []*wire.TxOut{wire.NewTxOut(total-int64(nIn)*500, externalScript(1))})
	if err != nil {
		t.Fatal(err)
	}
	if p.Unknowns, err = globalXpubs(tw.info.Descriptor); err != nil {
		t.Fatal(err)
	}
	for i, u := range utxos {
		updateInput(&p.Inputs[i], u.PrevTx, u.OutPoint.Index, ds[i], descriptor.ScriptWsh)
	}
	return tw, p
}

// cpuTimer reports the process CPU time per operation next to the wall
// time: the machines these run on are shared, and CPU time shows the work
// done whatever the contention.
type cpuTimer struct{ start time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuTimer { return cpuTimer{cpuTime()} }

func (c cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-c.start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkFinalize finalizes (verify, build, execute every script) a
// 3-of-5 wsh PSBT of 500 and of 2,000 inputs.
func BenchmarkFinalize(b *testing.B) {
	for _, n := range []int{500, 2000} {
		tw, p := benchSpend(b, n)
		b.Run(fmt.Sprintf("wsh-3of5-%dinputs", n), func(b *testing.B) {
			copies := make([]*bpsbt.Packet, b.N)
			for i := range copies {
				copies[i] = clonePacket(p)
			}
			b.ResetTimer()
			cpu := startCPU()
			for i := 0; i < b.N; i++ {
				if _, err := Finalize(copies[i], tw.info); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkInspect inspects the signed 500-input PSBT: ownership of every
// input re-derived, every signature verified.
func BenchmarkInspect(b *testing.B) {
	tw, p := benchSpend(b, 500)
	b.Run("wsh-3of5-500inputs", func(b *testing.B) {
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			r, err := Inspect(p, tw.info)
			if err != nil || !r.ReadyToFinalize {
				b.Fatalf("inspect: %v", err)
			}
		}
		cpu.report(b)
	})
}

// BenchmarkCoinSelection chooses coins for a payment among 10,000 and
// 50,000 UTXOs (a treasury's, issue 15) of random amounts: the selection
// alone, and the whole Build around it.
func BenchmarkCoinSelection(b *testing.B) {
	tw := newTestWallet(b, descriptor.ScriptWsh, 2, 3, true)
	const addrs = 500
	ds, err := tw.info.Descriptor.DeriveRange(0, 0, addrs, testNet)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10_000, 50_000} {
		rng := rand.New(rand.NewPCG(7, 7))
		utxos := make([]UTXO, n)
		for i := range utxos {
			utxos[i] = utxoFor(ds[i%addrs], 0, uint32(i%addrs), 1_000+rng.Int64N(1_000_000), i)
		}
		req := BuildRequest{
			Wallet: tw.info, UTXOs: utxos,
			Outputs: []Output{{Script: externalScript(2), Value: 5_123_456}},
			FeeRate: 12, ChangeBranch: 1,
		}
		b.Run(fmt.Sprintf("select-%dutxos", n), func(b *testing.B) {
			bld, err := newBuilder(req)
			if err != nil {
				b.Fatal(err)
			}
			cpu := startCPU()
			for i := 0; i < b.N; i++ {
				bld.rng = seeded(uint64(i))
				if _, err := bld.selectCoins(); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
		b.Run(fmt.Sprintf("build-%dutxos", n), func(b *testing.B) {
			cpu := startCPU()
			for i := 0; i < b.N; i++ {
				r := req
				r.Rand = seeded(uint64(i))
				if _, _, err := Build(r); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkDecode decodes the signed 500-input PSBT (partial signatures
// and five derivations per input, every key checked on the curve).
func BenchmarkDecode(b *testing.B) {
	_, p := benchSpend(b, 500)
	raw := mustSerialize(b, p)
	b.Run(fmt.Sprintf("wsh-3of5-500inputs-%dkB", len(raw)/1000), func(b *testing.B) {
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			if _, err := Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
}

// BenchmarkCombine combines three copies of the 500-input PSBT, each
// signed by one cosigner (1,500 signatures verified), with a fresh Memo
// each time, as one process would.
func BenchmarkCombine(b *testing.B) {
	tw, p := wshSpend(b, 3, 5, 500)
	copies := make([]*bpsbt.Packet, 3)
	for k := range copies {
		copies[k] = clonePacket(p)
		tw.sign(b, copies[k], k)
	}
	b.Run("wsh-3of5-500inputs-3copies", func(b *testing.B) {
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			info := tw.info
			info.Memo = NewMemo()
			if _, err := Combine(copies, info); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
}

// BenchmarkGate runs the gate, signatures verified, on the signed
// 500-input PSBT: the check every step makes.
func BenchmarkGate(b *testing.B) {
	tw, p := benchSpend(b, 500)
	b.Run("wsh-3of5-500inputs", func(b *testing.B) {
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			info := tw.info
			info.Memo = NewMemo()
			if _, err := Gate(p, info, GateRules{VerifySignatures: true}); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
}
