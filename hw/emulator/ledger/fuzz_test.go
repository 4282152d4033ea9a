package ledger

import (
	"context"
	"encoding/hex"
	"io"
	"testing"
)

// scriptedPort feeds a command's CONTINUE answers from a list and then
// reports the host gone.
type scriptedPort struct {
	answers [][]byte
	sws     []uint16
}

func (p *scriptedPort) read(context.Context) ([]byte, error) {
	if len(p.answers) == 0 {
		return nil, io.EOF
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

func (p *scriptedPort) write(_ context.Context, _ []byte, sw uint16) error {
	p.sws = append(p.sws, sw)
	return nil
}

// FuzzCommand throws arbitrary APDUs, and arbitrary answers to the client
// commands they start, at the emulator: it must answer with a status word
// or report the host gone, never panic.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"b0010000", "e105000100", "e10000010201 00",
		"e1030001460000", "e104000100", "e10200015150020c436f6c642073746f72616765",
		"f801000100",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b, []byte{0xf8, 0x01, 0x00, 0x01, 0x02, 0x05, 0x01})
	}
	e, err := New(Config{Mnemonic: testMnemonic})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, apdu, answer []byte) {
		p := &scriptedPort{answers: [][]byte{answer, answer}}
		_ = e.command(context.Background(), p, apdu)
	})
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte{2, 0, 1, 0})
	f.Add([]byte("[73c5da0a/48'/1'/0'/2']tpubD"))
	e, err := New(Config{Mnemonic: testMnemonic})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parsePolicyHeader(b)
		_, _ = parseSignRequest(b)
		_, _ = parseCommitment(b)
		_, _ = e.parseKeyInfo(string(b))
		_, _, _, _, _ = parseTemplate(string(b), 3)
		_, _ = parseAPDU(b)
	})
}
