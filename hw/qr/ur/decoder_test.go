package ur

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestDecoderOrderAndLoss: parts shuffled, duplicated, upper-cased, with
// every third part of the first sequence lost, still decode through the
// fountain parts.
func TestDecoderOrderAndLoss(t *testing.T) {
	msg := makeMessageCBOR(t, 5000)
	e, err := NewEncoder("bytes", msg, 200, 10)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var parts []string
	for i, p := range e.Parts(e.SeqLen()) {
		if i%3 != 0 {
			parts = append(parts, p, p)
		}
	}
	rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	var d Decoder
	fresh := 0
	for _, p := range parts {
		ok, err := d.Receive(strings.ToUpper(p))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fresh++
		}
	}
	if have, total := d.Progress(); have != fresh || total != e.SeqLen() || d.IsComplete() {
		t.Fatalf("progress %d/%d, %d fresh", have, total, fresh)
	}
	if _, err := d.Result(); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("result before completion: %v", err)
	}
	for n := 0; !d.IsComplete(); n++ {
		if n > 10*e.SeqLen() {
			t.Fatal("fountain parts did not complete the message")
		}
		if _, err := d.Receive(e.NextPart()); err != nil {
			t.Fatal(err)
		}
	}
	u, err := d.Result()
	if err != nil || !bytes.Equal(u.CBOR, msg) || u.Type != "bytes" {
		t.Fatalf("result: %v", err)
	}
	if ok, err := d.Receive(parts[0]); ok || err != nil {
		t.Fatalf("part after completion: %v %v", ok, err)
	}
}

func TestDecoderRefusals(t *testing.T) {
	e1, _ := NewEncoder("bytes", makeMessageCBOR(t, 500), 50, 10)
	e2, _ := NewEncoder("bytes", makeMessageCBOR(t, 600), 50, 10)
	e3, _ := NewEncoder("crypto-psbt", makeMessageCBOR(t, 500), 50, 10)
	p1 := e1.Parts(3)
	var d Decoder
	if _, err := d.Receive(p1[0]); err != nil {
		t.Fatal(err)
	}
	other := e2.NextPart()
	typed := e3.NextPart()
	seqLie := strings.Replace(p1[1], "/2-", "/3-", 1)
	for name, tc := range map[string]struct {
		s    string
		want error
	}{
		"other message":   {other, ErrMixed},
		"other type":      {typed, ErrMixed},
		"seq mismatch":    {seqLie, ErrInvalid},
		"bad checksum":    {p1[1][:len(p1[1])-2] + "aa", ErrInvalid},
		"not ur":          {"B$HP0100AB", ErrInvalid},
		"bad type":        {"ur:by_tes/1-2/aeadaolazmjendeoti", ErrInvalid},
		"bad seq":         {"ur:bytes/0-2/aeadaolazmjendeoti", ErrInvalid},
		"too many /":      {"ur:bytes/1-2/x/aeadaolazmjendeoti", ErrInvalid},
		"single in multi": {"ur:bytes/aeadaolazmjendeoti", ErrMixed},
	} {
		if _, err := d.Receive(tc.s); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if have, _ := d.Progress(); have != 1 {
		t.Fatalf("refused parts changed the decoder: %d", have)
	}
	// A fragment claiming a huge message is refused before allocation.
	big := fountainPart{SeqNum: 1, SeqLen: 1 << 30, MessageLen: 1 << 40, Checksum: 1, Data: []byte{1}}
	var d2 Decoder
	if _, err := d2.Receive("ur:bytes/1-1073741824/" + EncodeBytewords(Minimal, big.cbor())); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge message: %v", err)
	}
	// Inconsistent arithmetic (3 fragments of 10 bytes for 100 bytes).
	lie := fountainPart{SeqNum: 1, SeqLen: 3, MessageLen: 100, Checksum: 1, Data: make([]byte, 10)}
	if _, err := d2.Receive("ur:bytes/1-3/" + EncodeBytewords(Minimal, lie.cbor())); !errors.Is(err, ErrInvalid) {
		t.Fatalf("inconsistent part: %v", err)
	}
}

// TestDecoderChecksum: fragments whose content does not match the
// message checksum end in ErrChecksum.
func TestDecoderChecksum(t *testing.T) {
	msg := makeMessageCBOR(t, 100)
	e, _ := NewEncoder("bytes", msg, 30, 10)
	var d Decoder
	for i := 0; i < e.SeqLen(); i++ {
		p := e.f.nextPart()
		if i == 1 {
			p.Data[0] ^= 1
		}
		s := "ur:bytes/" + itoa(int(p.SeqNum)) + "-" + itoa(e.SeqLen()) + "/" + EncodeBytewords(Minimal, p.cbor())
		_, err := d.Receive(s)
		if i == e.SeqLen()-1 && !errors.Is(err, ErrChecksum) {
			t.Fatalf("last part: %v", err)
		}
	}
	if _, err := d.Result(); !errors.Is(err, ErrChecksum) {
		t.Fatalf("result: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSinglePartEncoder(t *testing.T) {
	msg := makeMessageCBOR(t, 50)
	e, err := NewEncoder("bytes", msg, 1000, 10)
	if err != nil || !e.IsSinglePart() || e.SeqLen() != 1 {
		t.Fatalf("%v", err)
	}
	if a, b := e.NextPart(), e.NextPart(); a != b || strings.Count(a, "/") != 1 {
		t.Fatalf("single part %q %q", a, b)
	}
	var d Decoder
	if _, err := d.Receive(e.NextPart()); err != nil || !d.IsComplete() {
		t.Fatal(err)
	}
	if _, err := NewEncoder("BYTES", msg, 10, 10); err == nil {
		t.Fatal("upper-case type accepted by the encoder")
	}
	if _, err := NewEncoder("bytes", nil, 10, 10); err == nil {
		t.Fatal("empty message accepted")
	}
}
