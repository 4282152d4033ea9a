package coldcard

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives the seed corpora of this package's fuzz targets
// (see internal/fuzzseed): replies of every shape the protocol defines,
// framed as the device frames them, plus the reports and decrypted replies
// of a recorded session with the emulator (open, xpub, register, show an
// address, sign).
func hwBuild(t *testing.T, d *descriptor.Descriptor) *bpsbt.Packet {
	p, _ := hwtest.BuildPSBT(t, d, testNet)
	return p
}

func TestFuzzCorpus(t *testing.T) {
	frames := fuzzseed.New("FuzzAssembler")
	replies := fuzzseed.New("FuzzDecodeReply")
	mypb := append(append(append([]byte("mypb"), bytes.Repeat([]byte{4}, 64)...), 0x73, 0xc5, 0xda, 0x0a), le32(111)...)
	mypb = append(mypb, "xpub661MyMwAqRbcFkPHucMnrGNzDwb6teAX1RbKQmqtEF8kK3Z7LZ59qafCjB9eCRLiTVG3uxBxgKvRgbubRhqSKXnGGb1aoaqLrpMBDrVxga8"...)
	shapes := map[string][]byte{
		"okay":        []byte("okay"),
		"biny":        append([]byte("biny"), bytes.Repeat([]byte{0x70}, 65)...),
		"int1":        append([]byte("int1"), 1, 0, 0, 0),
		"asci_xpub":   []byte("asciXTN"),
		"asci_vers":   []byte("asci2024-01-01\n5.2.2\nmk4\n"),
		"mypb":        mypb,
		"strx":        append(append([]byte("strx"), le32(300)...), bytes.Repeat([]byte{0xab}, 32)...),
		"err":         []byte("err_Unknown multisig wallet"),
		"err_control": []byte("err_\x1b[31mred\x07"),
		"refu":        []byte("refu"),
		"busy":        []byte("busy"),
		"fram":        []byte("framno key"),
		"unknown":     []byte("zzzz"),
		"short":       []byte("ok"),
		"mypb_short":  []byte("mypb"),
		"strx_short":  append([]byte("strx"), make([]byte, 35)...),
	}
	for name, msg := range shapes {
		replies.Add(name, msg)
		for _, enc := range []bool{false, true} {
			frames.Add(name, bytes.Join(frameMessage(msg, enc), nil))
		}
	}
	long := bytes.Repeat([]byte("biny0123456789"), 200)[:maxMsgLen]
	frames.Add("longest", bytes.Join(frameMessage(long, true), nil))
	frames.Add("reset", resetReport())
	frames.Add("zero_header", make([]byte, reportSize))
	frames.Add("short_before_last", append([]byte{10}, make([]byte, 63)...))
	frames.Add("length_beyond_report", []byte{0x80 | 40, 1, 2})
	fuzzseed.Check(t, frames, replies)

	// The wallet PSBTs these tests have the emulator sign, as the driver
	// uploads them, seed the emulator's PSBT review.
	fuzzseed.RecordAt(t, "../emulator/coldcard", "FuzzReviewPSBT", "driver_psbt", func() [][]any {
		var out [][]any
		for _, st := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
			w := newTestWalletOf(t, st, mnemonics...)
			raw, err := serialize(w.buildPSBT(t, psbtSpec{inputs: 2, changeIndex: 4}))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, []any{raw})
		}
		// A miniscript and a taproot wallet's PSBT (miniscript_test.go).
		w := newTestWallet(t, mnemonics...)
		for _, p := range []*bpsbt.Packet{hwBuild(t, recoveryWallet(t, w)), tapPSBT(t, tapscriptWallet(t, w), testNet)} {
			raw, err := serialize(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, []any{raw})
		}
		return out
	})

	var session []recorded
	record := func() {
		if session == nil {
			session = recordSession(t)
		}
	}
	fuzzseed.Record(t, "FuzzAssembler", "session", func() [][]any {
		record()
		var out [][]any
		for _, r := range session {
			out = append(out, []any{r.wire})
		}
		return out
	})
	fuzzseed.Record(t, "FuzzDecodeReply", "session", func() [][]any {
		record()
		var out [][]any
		for _, r := range session {
			out = append(out, []any{r.plain})
		}
		return out
	})
}

// recorded is one device reply of a recorded session: its reports as they
// crossed the link, and the message after decryption.
type recorded struct {
	wire, plain []byte
}

// recorder keeps every report the host reads.
type recorder struct {
	transport.Transport
	mu      sync.Mutex
	reports [][]byte
}

func (r *recorder) Read(ctx context.Context) ([]byte, error) {
	b, err := r.Transport.Read(ctx)
	if err == nil {
		r.mu.Lock()
		r.reports = append(r.reports, append([]byte(nil), b...))
		r.mu.Unlock()
	}
	return b, err
}

// recordSession runs a driver against the emulator through a recorder and
// returns the device's replies, decrypted with the session's key. The
// emulator's seed is the first of mnemonics, as in newRig.
func recordSession(t *testing.T) []recorded {
	t.Helper()
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		t.Fatal(err)
	}
	host, dev := transport.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, dev) }()
	rec := &recorder{Transport: host}
	cc, err := Open(ctx, rec, Options{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := newTestWallet(t, mnemonics...)
	hww := hwtest.Wallet(w.desc, testNet, "treasury")
	if _, err := cc.Xpub(ctx, accountPath); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Register(ctx, hww); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.DisplayAddress(ctx, hww, 1, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := hwtest.Sign(ctx, cc, w.buildPSBT(t, psbtSpec{inputs: 2, changeIndex: 4}), w.desc, testNet, "treasury"); err != nil {
		t.Fatal(err)
	}
	key := cc.link.cipher.key
	cc.Close()
	cancel()
	<-served

	c, err := newLinkCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var out []recorded
	asm := assembler{max: maxMsgLen}
	var wire []byte
	for _, r := range rec.reports {
		wire = append(wire, r...)
		msg, enc, done, err := asm.add(r)
		if err != nil {
			t.Fatalf("recorded report %x: %v", r, err)
		}
		if !done {
			continue
		}
		if enc {
			msg = c.open(msg)
		}
		var re *replyError
		if _, err := decodeReply(msg); err != nil && !errors.As(err, &re) {
			t.Fatalf("recorded reply %q does not decode: %v", msg, err)
		}
		out = append(out, recorded{wire: wire, plain: msg})
		wire = nil
	}
	if len(out) < 10 {
		t.Fatalf("recorded only %d replies", len(out))
	}
	return out
}
