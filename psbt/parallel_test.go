package psbt

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
)

// TestInvalidSignaturesReportedInInputOrder checks that the per-input work
// spread over goroutines (parallelFor) reports errors exactly as one
// goroutine does: every failing input, lowest index first, whatever order
// the workers finish in. The PSBT has enough inputs for parallelFor to use
// its workers; run it under -race as well.
func TestInvalidSignaturesReportedInInputOrder(t *testing.T) {
	const nIn = 40
	tw, p := wshSpend(t, 2, 3, nIn)
	tw.sign(t, p, 0, 2) // PartialSigs[0] is cosigner A's, [1] cosigner C's

	// Each bad input gets a signature its cosigner made for the next
	// input: strict DER, low S and SIGHASH_ALL, so only the ECDSA check
	// (or the script engine) can catch it. Listed out of order on purpose.
	bad := []struct{ input, sig, cosigner int }{{37, 1, 2}, {4, 0, 0}, {21, 1, 2}, {5, 0, 0}}
	for _, b := range bad {
		p.Inputs[b.input].PartialSigs[b.sig].Signature = bytes.Clone(p.Inputs[b.input+1].PartialSigs[b.sig].Signature)
	}
	var lines []string
	for _, k := range []int{4, 5, 21, 37} {
		for _, b := range bad {
			if b.input == k {
				lines = append(lines, fmt.Sprintf("refused: input %d: invalid signature from cosigner %s (%s): signature does not verify against this transaction's sighash; ask that cosigner to sign the PSBT again",
					k, hexFP(tw.fps[b.cosigner]), tw.info.Labels[b.cosigner]))
			}
		}
	}
	want := strings.Join(lines, "\n")
	before := mustSerialize(t, p)

	// report runs every role that checks signatures and returns what each
	// reports.
	report := func() (finalize, combine string, warnings []string) {
		err := FinalizePacket(p, tw.info)
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("FinalizePacket: err = %v, want a refusal", err)
		}
		if !bytes.Equal(before, mustSerialize(t, p)) {
			t.Fatal("a refused finalization changed the PSBT")
		}
		finalize = err.Error()
		_, err = Combine([]*bpsbt.Packet{p}, tw.info)
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("Combine: err = %v, want a refusal", err)
		}
		combine = err.Error()
		r, err := Inspect(p, tw.info)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "invalid signature") {
				warnings = append(warnings, w)
			}
		}
		return finalize, combine, warnings
	}

	// One goroutine: parallelFor runs the inputs in order.
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	seqFinalize, seqCombine, seqWarnings := report()
	if seqFinalize != want {
		t.Fatalf("FinalizePacket, one goroutine:\n%s\nwant:\n%s", seqFinalize, want)
	}
	if seqCombine != want {
		t.Fatalf("Combine, one goroutine:\n%s\nwant:\n%s", seqCombine, want)
	}
	if len(seqWarnings) != len(bad) {
		t.Fatalf("Inspect warns of %d invalid signatures, want %d: %q", len(seqWarnings), len(bad), seqWarnings)
	}
	for j, k := range []int{4, 5, 21, 37} {
		if !strings.HasPrefix(seqWarnings[j], fmt.Sprintf("input %d: invalid signature from", k)) {
			t.Fatalf("Inspect warning %d is %q, want one about input %d", j, seqWarnings[j], k)
		}
	}

	// Several workers, more than the cores so that they interleave: the
	// same reports, every time.
	runtime.GOMAXPROCS(4)
	for run := 0; run < 3; run++ {
		finalize, combine, warnings := report()
		if finalize != seqFinalize || combine != seqCombine || strings.Join(warnings, "\n") != strings.Join(seqWarnings, "\n") {
			t.Fatalf("run %d with 4 workers differs from one goroutine:\nFinalizePacket:\n%s\nCombine:\n%s\nInspect:\n%s",
				run, finalize, combine, strings.Join(warnings, "\n"))
		}
	}
}
