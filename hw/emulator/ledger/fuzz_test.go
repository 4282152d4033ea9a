package ledger

import (
	"bytes"
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
		_, _ = parseTemplate(string(b), 3, mustFeatures(LatestAppVersion))
		_, _ = parseAPDU(b)
		k := min(33, len(b)) // a derivation: the key data, then the value
		_, _ = parseDerivation(b[:k], b[k:])
		x := min(32, len(b)) // a taproot derivation: x-only key, then leaf hashes and origin
		_, _ = parseTapDerivation(b[:x], b[x:])
		_, _ = parseWitnessUtxo(b)
		_, _ = withoutCodeSeparators(b)
	})
}

// FuzzSighash parses a previous transaction the way non_witness_utxo is
// parsed and computes both digests of each of its inputs under hash type
// ht with script as scriptCode: no input may panic, and the legacy digest
// must not depend on OP_CODESEPARATORs the script does not contain.
func FuzzSighash(f *testing.F) {
	f.Add(mustHexF(f, "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"), []byte{0x51, 0xab, 0x52}, uint32(3))
	f.Fuzz(func(t *testing.T, raw, script []byte, ht uint32) {
		tx, err := parseTx(raw)
		if err != nil {
			return
		}
		h := newBIP143Hashes(tx)
		for i := range tx.ins {
			_, _ = segwitV0Sighash(tx, h, i, script, 1, ht)
			a, errA := legacySighash(tx, i, script, ht)
			if errA != nil {
				continue
			}
			stripped, _ := withoutCodeSeparators(script)
			b, errB := legacySighash(tx, i, stripped, ht)
			if errB != nil || a != b {
				t.Fatalf("input %d: removing OP_CODESEPARATOR twice changed the digest", i)
			}
		}
		if _, err := legacySighash(tx, len(tx.ins), script, ht); err == nil {
			t.Fatal("an input index out of range was accepted")
		}
	})
}

func mustHexF(f *testing.F, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzTemplate parses descriptor templates as the newest and the oldest
// modelled app versions would, and compiles what parses with stand-in
// keys: no input may panic, a template 2.1.3 accepts must also parse in
// the newest version, and every parsed miniscript must compile. Seeds:
// testdata/fuzz/FuzzTemplate (the shapes of the unit and interop tests).
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"wsh(sortedmulti(2,@0/**,@1/**,@2/**))",
		"tr(@0/**,{sortedmulti_a(2,@0/<2;3>/*,@1/**),pk(@2/**)})",
		"tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))",
		"wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(52560))))",
	} {
		f.Add(s)
	}
	latest, old := mustFeatures(LatestAppVersion), mustFeatures(DefaultAppVersion)
	f.Fuzz(func(t *testing.T, tmpl string) {
		if len(tmpl) > maxTemplateLen {
			return
		}
		_, _ = parseTemplate(tmpl, 0, latest)
		_, errOld := parseTemplate(tmpl, 3, old)
		pol, err := parseTemplate(tmpl, 3, latest)
		if errOld == nil && err != nil {
			t.Fatalf("%q: 2.1.3 accepts, %s refuses: %v", tmpl, LatestAppVersion, err)
		}
		if err != nil {
			return
		}
		key := func(n int) keyFunc {
			return func(k *keyExpr) ([]byte, error) { return bytes.Repeat([]byte{2}, n), nil }
		}
		var scripts []*node
		if pol.script != nil {
			scripts = append(scripts, pol.script)
		}
		for _, s := range scripts {
			if _, err := compile(s, key(33)); err != nil {
				t.Fatalf("%q: %v", tmpl, err)
			}
		}
		for _, s := range pol.tree.leaves(nil) {
			if _, err := compile(s, key(32)); err != nil {
				t.Fatalf("%q: %v", tmpl, err)
			}
		}
	})
}
