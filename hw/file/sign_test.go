package file_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/file"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/psbt"
)

// prompts collects Prompt lines; Sign calls Prompt from its own goroutine.
type prompts struct {
	mu    sync.Mutex
	lines []string
}

func (p *prompts) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
}

func (p *prompts) all() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func waitingSigner(dir string, pr *prompts) *file.Signer {
	return &file.Signer{Dir: dir, Wait: true, Poll: 5 * time.Millisecond, Prompt: pr.add}
}

// device plays a Coldcard: it waits for the PSBT on the card, lets answer
// turn it into the bytes to write back, and writes them under the name
// answer chooses. It returns a channel closed when it is done.
func device(t *testing.T, dir string, answer func(fn string, p *bpsbt.Packet) (string, []byte)) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		fn, ok := unsignedOnCard(dir, done)
		if !ok {
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, fn))
		if err != nil {
			t.Error(err)
			return
		}
		p, err := psbt.Decode(data)
		if err != nil {
			t.Errorf("the PSBT on the card does not decode: %v", err)
			return
		}
		name, out := answer(fn, p)
		mustWrite(t, dir, name, out)
	}()
	return func() { close(done); <-finished }
}

func serialize(t *testing.T, p *bpsbt.Packet) []byte {
	t.Helper()
	b, err := psbt.Serialize(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignWaitsForDevice(t *testing.T) {
	w := newTestWallet(t)
	p, prev := w.psbt(t, 100_000, 60_000)
	before := serialize(t, p)
	dir := t.TempDir()
	var pr prompts

	stop := device(t, dir, func(fn string, got *bpsbt.Packet) (string, []byte) {
		w.sign(t, got, 0)
		return coldcardName(fn, false), serialize(t, got)
	})
	defer stop()
	out, err := hwtest.Sign(context.Background(), waitingSigner(dir, &pr), p, w.d, regtest, "Family Vault")
	if err != nil {
		t.Fatal(err)
	}
	if sigCount(out) != 1 {
		t.Fatalf("got %d signatures back, want 1", sigCount(out))
	}
	if !bytes.Equal(serialize(t, p), before) {
		t.Fatal("Sign changed the caller's packet")
	}
	fn := "Family_Vault-" + p.UnsignedTx.TxHash().String()[:8] + ".psbt"
	if onCard, err := os.ReadFile(filepath.Join(dir, fn)); err != nil || !bytes.Equal(onCard, before) {
		t.Fatalf("the card does not hold the PSBT as %s: %v", fn, err)
	}
	if want := "Waiting for the signed PSBT in " + dir + " (Ctrl-C to stop)…"; !strings.Contains(pr.all(), want) {
		t.Errorf("prompts %q lack %q", pr.all(), want)
	}
	// The device's signature is a real one: a second cosigner completes it.
	w.sign(t, out, 1)
	execute(t, out, prev)
}

func TestWrongTransactionRefused(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	other, _ := w.psbt(t, 100_000, 50_000)
	dir := t.TempDir()
	stop := device(t, dir, func(fn string, _ *bpsbt.Packet) (string, []byte) {
		w.sign(t, other, 0)
		return coldcardName(fn, false), serialize(t, other)
	})
	defer stop()
	out, err := hwtest.Sign(context.Background(), waitingSigner(dir, &prompts{}), p, w.d, regtest, "w")
	if !errors.Is(err, psbt.ErrRefused) || out != nil || !strings.Contains(err.Error(), "another transaction") {
		t.Fatalf("Sign with a signed file of another transaction: %v, %v; want ErrRefused", out, err)
	}
}

func TestCancelStopsWaiting(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := hwtest.Sign(ctx, waitingSigner(t.TempDir(), &prompts{}), p, w.d, regtest, "w")
	// Stopping is not a pending success: nothing was signed.
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, hw.ErrPending) || !strings.Contains(err.Error(), "nothing was signed") {
		t.Fatalf("Sign after the context ended: %v; want the context's error, not ErrPending", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Sign took %v to notice the cancellation", d)
	}
}

// A FIFO (or a link, or a device node) named like the device's answer is
// not read: opening a FIFO blocks until a writer comes, and a blocked open
// would not notice Ctrl-C. The wait goes on and ends when asked.
func TestSpecialFileNamedLikeTheAnswer(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	dir := t.TempDir()
	base := "w-" + p.UnsignedTx.TxHash().String()[:8]
	if err := syscall.Mkfifo(filepath.Join(dir, base+"-part.psbt"), 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, base+"-signed.psbt")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := hwtest.Sign(ctx, waitingSigner(dir, &prompts{}), p, w.d, regtest, "w")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sign with a FIFO and a link to /dev/zero as answers: %v; want to keep waiting until cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sign blocked on a FIFO named like the answer")
	}
}

func TestNoWaitReturnsPending(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	dir := t.TempDir()
	var pr prompts
	s := &file.Signer{Dir: dir, Prompt: pr.add}
	out, err := hwtest.Sign(context.Background(), s, p, w.d, regtest, "w")
	if !errors.Is(err, hw.ErrPending) || out != nil {
		t.Fatalf("Sign without Wait: %v, %v; want ErrPending", out, err)
	}
	path := filepath.Join(dir, "w-"+p.UnsignedTx.TxHash().String()[:8]+".psbt")
	for _, want := range []string{path, "countersign psbt combine"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ErrPending message %q lacks %q", err, want)
		}
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, serialize(t, p)) {
		t.Fatalf("%s does not hold the PSBT: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the card holds %d files, want only the PSBT (no temporary files left)", len(entries))
	}
}

// TestEarlierFilesIgnored: answers already on the card (an earlier pass)
// are not taken for this device's answer; Coldcard then numbers its file.
func TestEarlierFilesIgnored(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	dir := t.TempDir()
	base := "w-" + p.UnsignedTx.TxHash().String()[:8]
	stale, _ := w.psbt(t, 100_000, 60_000)
	w.sign(t, stale, 2) // another cosigner's earlier signature
	mustWrite(t, dir, base+"-part.psbt", serialize(t, stale))

	stop := device(t, dir, func(fn string, got *bpsbt.Packet) (string, []byte) {
		w.sign(t, got, 0)
		return base + "-part-2.psbt", serialize(t, got)
	})
	defer stop()
	out, err := hwtest.Sign(context.Background(), waitingSigner(dir, &prompts{}), p, w.d, regtest, "w")
	if err != nil {
		t.Fatal(err)
	}
	if sigCount(out) != 1 || !w.signedBy(out, 0) {
		t.Fatalf("took the signatures of the wrong file: %d signatures, key 0 signed: %v", sigCount(out), w.signedBy(out, 0))
	}
}

func TestFinishedTransactionOnly(t *testing.T) {
	w := newTestWallet(t)
	p, prev := w.psbt(t, 100_000, 60_000)
	dir := t.TempDir()
	stop := device(t, dir, func(fn string, got *bpsbt.Packet) (string, []byte) {
		w.sign(t, got, 0)
		w.sign(t, got, 1)
		tx := execute(t, got, prev)
		// Coldcard with "Delete PSBTs" on: only TXID.txn, in hex.
		return tx.TxHash().String() + ".txn", txHex(t, tx)
	})
	defer stop()
	_, err := hwtest.Sign(context.Background(), waitingSigner(dir, &prompts{}), p, w.d, regtest, "w")
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "Delete PSBTs") {
		t.Fatalf("Sign with only a finished transaction back: %v", err)
	}
}

func TestAnswerWithoutSignatures(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	dir := t.TempDir()
	stop := device(t, dir, func(fn string, got *bpsbt.Packet) (string, []byte) {
		return coldcardName(fn, false), serialize(t, got)
	})
	defer stop()
	_, err := hwtest.Sign(context.Background(), waitingSigner(dir, &prompts{}), p, w.d, regtest, "w")
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no partial signature") {
		t.Fatalf("Sign with an unsigned answer: %v", err)
	}
}

func TestGarbageAnswer(t *testing.T) {
	w := newTestWallet(t)
	p, _ := w.psbt(t, 100_000, 60_000)
	dir := t.TempDir()
	stop := device(t, dir, func(fn string, _ *bpsbt.Packet) (string, []byte) {
		return coldcardName(fn, true), []byte("this is not a PSBT")
	})
	defer stop()
	_, err := hwtest.Sign(context.Background(), waitingSigner(dir, &prompts{}), p, w.d, regtest, "w")
	if !errors.Is(err, psbt.ErrMalformed) {
		t.Fatalf("Sign with a garbage answer: %v, want ErrMalformed", err)
	}
}

func TestRefusesBeforeWriting(t *testing.T) {
	w := newTestWallet(t)
	dir := t.TempDir()
	p, _ := w.psbt(t, 100_000, 60_000)
	p.Inputs[0].NonWitnessUtxo = nil
	if _, err := hwtest.Sign(context.Background(), (&file.Signer{Dir: dir}), p, w.d, regtest, "w"); !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("Sign of a PSBT the wallet cannot explain: %v, want ErrRefused", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused PSBT was written to the card: %v", entries)
	}
	good, _ := w.psbt(t, 100_000, 60_000)
	if _, err := hwtest.Sign(context.Background(), &file.Signer{Dir: filepath.Join(dir, "no-card")}, good, w.d, regtest, "w"); !errors.Is(err, hw.ErrDevice) {
		t.Fatalf("Sign to a missing folder: %v, want hw.ErrDevice", err)
	}
}
