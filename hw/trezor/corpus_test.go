package trezor

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	emu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus records a session between the driver and the emulator
// (open, xpub, address, sign; see internal/fuzzseed) and keeps its device
// reports as FuzzSession's seeds, and the messages of both directions as
// seeds of the codec package's FuzzAssembler and FuzzUnmarshal.
func TestFuzzCorpus(t *testing.T) {
	var rec *recorder
	session := func() *recorder {
		if rec == nil {
			rec = recordSession(t)
		}
		return rec
	}
	fuzzseed.Record(t, "FuzzSession", "session", func() [][]any {
		r := session()
		var first []byte // the reports of the first message, Features
		for _, m := range r.messages(t, r.reads) {
			first = m.reports
			break
		}
		return [][]any{{bytes.Join(r.reads, nil)}, {first}}
	})
	const codec = "trezorproto"
	fuzzseed.RecordAt(t, codec, "FuzzAssembler", "session", func() [][]any {
		r := session()
		var out [][]any
		per := map[tp.MessageType]int{}
		for _, reports := range [][][]byte{r.reads, r.writes} {
			for _, m := range r.messages(t, reports) {
				if per[m.typ]++; per[m.typ] <= 2 {
					out = append(out, []any{m.reports})
				}
			}
		}
		return out
	})
	fuzzseed.RecordAt(t, codec, "FuzzUnmarshal", "session", func() [][]any {
		r := session()
		var out [][]any
		per := map[tp.MessageType]int{}
		for _, reports := range [][][]byte{r.reads, r.writes} {
			for _, m := range r.messages(t, reports) {
				if per[m.typ]++; per[m.typ] <= 3 {
					out = append(out, []any{uint16(m.typ), m.payload})
				}
			}
		}
		return out
	})
}

// recorder keeps every report the host writes and reads.
type recorder struct {
	transport.Transport
	mu            sync.Mutex
	reads, writes [][]byte
}

func (r *recorder) Write(ctx context.Context, b []byte) error {
	r.mu.Lock()
	r.writes = append(r.writes, append([]byte(nil), b...))
	r.mu.Unlock()
	return r.Transport.Write(ctx, b)
}

func (r *recorder) Read(ctx context.Context) ([]byte, error) {
	b, err := r.Transport.Read(ctx)
	if err == nil {
		r.mu.Lock()
		r.reads = append(r.reads, append([]byte(nil), b...))
		r.mu.Unlock()
	}
	return b, err
}

type message struct {
	typ     tp.MessageType
	payload []byte
	reports []byte
}

// messages reassembles recorded reports into messages.
func (r *recorder) messages(t *testing.T, reports [][]byte) []message {
	t.Helper()
	var out []message
	var asm tp.Assembler
	var cur []byte
	for _, rep := range reports {
		cur = append(cur, rep...)
		typ, p, done, err := asm.Add(rep)
		if err != nil {
			t.Fatalf("recorded report %x: %v", rep, err)
		}
		if done {
			out = append(out, message{typ: typ, payload: p, reports: cur})
			cur = nil
		}
	}
	return out
}

// recordSession runs runSession against the emulator over UDP, as the
// registry opens it, and checks that it went through.
func recordSession(t *testing.T) *recorder {
	t.Helper()
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, srv) }()
	defer func() { cancel(); <-served; srv.Close() }()
	u, err := openEndpoint(ctx, hwEndpoint(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Transport: u}
	fx := newSessionFixture(t)
	r := runSession(ctx, rec, fx)
	if len(r.errs) > 0 || r.sign == nil || r.sign.Added != 2 || r.addr != fx.addr {
		t.Fatalf("recorded session did not go through: %v", r.errs)
	}
	return rec
}
