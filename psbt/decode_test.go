package psbt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// kv is one raw key-value record.
type kv struct{ key, value []byte }

// rawPSBT serializes maps by hand, so that tests can write what no
// serializer would.
func rawPSBT(tx []byte, global []kv, inputs, outputs [][]kv) []byte {
	var b bytes.Buffer
	b.Write(psbtMagic)
	writeKV := func(r kv) {
		_ = wire.WriteVarBytes(&b, 0, r.key)
		_ = wire.WriteVarBytes(&b, 0, r.value)
	}
	if tx != nil {
		writeKV(kv{[]byte{0x00}, tx})
	}
	for _, r := range global {
		writeKV(r)
	}
	b.WriteByte(0)
	for _, m := range append(inputs, outputs...) {
		for _, r := range m {
			writeKV(r)
		}
		b.WriteByte(0)
	}
	return b.Bytes()
}

// oneInOneOut is an unsigned transaction with one input and one output.
func oneInOneOut() []byte {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 1}, Sequence: wire.MaxTxInSequenceNum})
	tx.AddTxOut(wire.NewTxOut(1000, externalScript(1)))
	var b bytes.Buffer
	_ = tx.SerializeNoWitness(&b)
	return b.Bytes()
}

func TestDecodeStrictRules(t *testing.T) {
	tx := oneInOneOut()
	pub := mustHex(t, "029583bf39ae0a609747ad199addd634fa6108559d6c5cd39b4c2183f1ab96e07f")
	sig := mustHex(t, "3044022074018ad4180097b873323c0015720b3684cc8123891048e7dbcd9b55ad679c99022073d369b740e3eb53dcefa33823c8070514ca55a7dd9544f157c167913261118c01")
	origin := []byte{0xd9, 0x0c, 0x6a, 0x4f, 0, 0, 0, 0x80}
	in := func(r ...kv) [][]kv { return [][]kv{r} }
	out := [][]kv{{}}
	wutxo := func(script []byte, lenByte byte) []byte {
		v := make([]byte, 8)
		binary.LittleEndian.PutUint64(v, 5000)
		return append(append(v, lenByte), script...)
	}

	cases := []struct {
		name   string
		raw    []byte
		reason string
	}{
		{"empty BIP-32 derivation value (crashes btcd's parser)", rawPSBT(tx, nil, in(kv{append([]byte{0x06}, pub...), nil}), out), "BIP-32 derivation"},
		{"BIP-32 derivation of 6 bytes", rawPSBT(tx, nil, in(kv{append([]byte{0x06}, pub...), origin[:6]}), out), "4-byte"},
		{"trailing data", append(rawPSBT(tx, nil, in(), out), 0x00), "after the last output"},
		{"missing output map", rawPSBT(tx, nil, in(), nil), "output 0"},
		{"non-minimal key type", rawPSBT(tx, nil, in(kv{append([]byte{0xfd, 0x06, 0x00}, pub...), origin}), out), "minimally"},
		{"version 2 field in version 0", rawPSBT(tx, nil, in(kv{[]byte{0x0e}, make([]byte, 32)}), out), "version 2"},
		{"PSBT version 2 with a global unsigned tx", rawPSBT(tx, []kv{{[]byte{0xfb}, []byte{2, 0, 0, 0}}}, in(), out), "not allowed in a version 2 PSBT"},
		{"PSBT version 1", rawPSBT(tx, []kv{{[]byte{0xfb}, []byte{1, 0, 0, 0}}}, in(), out), "version 1 is not defined"},
		{"witness_utxo script length mismatch", rawPSBT(tx, nil, in(kv{[]byte{0x01}, wutxo(externalScript(1), 30)}), out), "script length"},
		{"duplicate unknown key, different values", rawPSBT(tx, nil, in(kv{[]byte{0xf0, 1}, []byte{1}}, kv{[]byte{0xf0, 1}, []byte{2}}), out), "duplicate key"},
		{"duplicate global key", rawPSBT(tx, []kv{{[]byte{0xf0}, nil}, {[]byte{0xf0}, []byte{1}}}, in(), out), "duplicate key"},
		// Past linearKeyCheck records a map's keys go into an index.
		{"duplicate key in a large map", rawPSBT(tx, nil, in(manyUnknowns(40, 3)...), out), "input 0: duplicate key f003"},
		{"duplicate key in a large output map", rawPSBT(tx, nil, in(), [][]kv{manyUnknowns(20, 19)}), "output 0: duplicate key f013"},
		{"partial signature not DER", rawPSBT(tx, nil, in(kv{append([]byte{0x02}, pub...), append([]byte{0x30, 0x00}, sig[2:]...)}), out), "DER"},
		{"partial signature key not a pubkey", rawPSBT(tx, nil, in(kv{append([]byte{0x02}, pub[:32]...), sig}), out), "public key"},
		{"final scriptWitness with a short item", rawPSBT(tx, nil, in(kv{[]byte{0x08}, []byte{2, 1, 0xaa, 5, 0xbb}}), out), "final scriptWitness"},
		{"no unsigned tx", rawPSBT(nil, nil, nil, nil), "unsigned transaction"},
		{"unsigned tx with trailing bytes", rawPSBT(append(tx, 0), nil, in(), out), "stated size"},
		{"global xpub of the wrong length", rawPSBT(tx, []kv{{append([]byte{0x01}, make([]byte, 77)...), origin[:4]}}, in(), out), "78"},
		{"value length past the end", append(rawPSBT(tx, nil, nil, nil)[:len(psbtMagic)+3], 0xff), "global map"},
		{"key too long", append(append(append([]byte(nil), psbtMagic...), 0xfe, 0xff, 0xff, 0xff, 0x00), 0x00), "limit"},
		{"SHA256 preimage that does not hash to its key", rawPSBT(tx, nil, in(kv{append([]byte{0x0b}, make([]byte, 32)...), []byte("x")}), out), "preimage"},
		{"proprietary key with a truncated identifier", rawPSBT(tx, nil, in(kv{[]byte{0xfc, 0x05, 'a'}, nil}), out), "proprietary"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.raw)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("err = %v, want ErrMalformed about %q", err, c.reason)
			}
		})
	}

	// What BIP-174 allows must pass, unknown and large key types included,
	// and come back byte for byte.
	ok := rawPSBT(tx,
		[]kv{{[]byte{0xfb}, []byte{0, 0, 0, 0}}, {[]byte{0xfc, 0x02, 'c', 's', 0x01}, []byte("x")}},
		in(kv{append([]byte{0x02}, pub...), sig}, kv{append([]byte{0x06}, pub...), origin}, kv{[]byte{0xfd, 0x00, 0x01}, []byte{7}}),
		[][]kv{{{[]byte{0xf0, 9}, []byte{1}}}})
	p, err := Decode(ok)
	if err != nil {
		t.Fatalf("valid PSBT refused: %v", err)
	}
	if b := mustSerialize(t, p); !bytes.Equal(b, ok) {
		t.Fatalf("round trip differs\n got %x\nwant %x", b, ok)
	}
}

// manyUnknowns is n unknown records 0xf0 i (i = 0..n-1) followed by a
// second record with the key of record dup.
func manyUnknowns(n, dup int) []kv {
	var r []kv
	for i := range n {
		r = append(r, kv{[]byte{0xf0, byte(i)}, []byte{1}})
	}
	return append(r, kv{[]byte{0xf0, byte(dup)}, []byte{2}})
}

func TestDecodeLargeMaps(t *testing.T) {
	tx := oneInOneOut()
	many := manyUnknowns(40, 0)
	ok := rawPSBT(tx, nil, [][]kv{many[:40]}, [][]kv{many[:17]})
	p, err := Decode(ok)
	if err != nil {
		t.Fatalf("maps of 40 and 17 distinct records refused: %v", err)
	}
	if len(p.Inputs[0].Unknowns) != 40 || len(p.Outputs[0].Unknowns) != 17 {
		t.Fatalf("decoded %d and %d unknown records, want 40 and 17", len(p.Inputs[0].Unknowns), len(p.Outputs[0].Unknowns))
	}
	if b := mustSerialize(t, p); !bytes.Equal(b, ok) {
		t.Fatalf("round trip differs\n got %x\nwant %x", b, ok)
	}
}

func TestValidateInMemory(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptShWsh, 2, 3)
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
	q := clone(t, p)
	q.Inputs = q.Inputs[:1]
	if err := Validate(q); !errors.Is(err, ErrMalformed) {
		t.Fatalf("missing input map: %v", err)
	}
	if _, err := Encode(q); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Encode of a mismatched packet: %v", err)
	}
	if _, err := Inspect(q, tw.info); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Inspect of a mismatched packet: %v", err)
	}
	q = clone(t, p)
	q.Inputs[0].Bip32Derivation = append(q.Inputs[0].Bip32Derivation, q.Inputs[0].Bip32Derivation[0])
	if err := Validate(q); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate derivation: %v", err)
	}
	if err := Validate(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil packet: %v", err)
	}
}

// BIP-174 fixes no order of records in a map: a PSBT whose global version
// record comes before the transaction is valid, and is written back in the
// canonical order (the transaction first).
func TestRecordsInAnyOrder(t *testing.T) {
	tx := oneInOneOut()
	raw := rawPSBT(nil, []kv{{[]byte{0xfb}, []byte{0, 0, 0, 0}}, {[]byte{0xf0}, []byte{7}}, {[]byte{0x00}, tx}}, [][]kv{{}}, [][]kv{{}})
	p, err := Decode(raw)
	if err != nil {
		t.Fatalf("version record before the transaction: %v", err)
	}
	out, err := Serialize(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, append(append([]byte(nil), psbtMagic...), 0x01, 0x00)) {
		t.Fatalf("not written with the transaction first: %x", out[:8])
	}
	q, err := Decode(out)
	if err != nil || q.UnsignedTx.TxHash() != p.UnsignedTx.TxHash() || len(q.Unknowns) != 2 {
		t.Fatalf("round trip: %v, %d unknowns", err, len(q.Unknowns))
	}
}

// TestInputOutputCountLimits: a PSBT announcing more inputs or outputs
// than a relayable transaction can have is refused before any of its maps
// is read.
func TestInputOutputCountLimits(t *testing.T) {
	header := func(nIn, nOut uint64) []byte {
		var b bytes.Buffer
		b.WriteString("psbt\xff")
		rec := func(key byte, val []byte) {
			wire.WriteVarBytes(&b, 0, []byte{key})
			wire.WriteVarBytes(&b, 0, val)
		}
		compact := func(n uint64) []byte {
			var v bytes.Buffer
			wire.WriteVarInt(&v, 0, n)
			return v.Bytes()
		}
		rec(0x02, []byte{2, 0, 0, 0})
		rec(0x04, compact(nIn))
		rec(0x05, compact(nOut))
		rec(0xfb, []byte{2, 0, 0, 0})
		b.WriteByte(0)
		return b.Bytes()
	}
	for _, c := range []struct{ in, out uint64 }{{MaxInputs + 1, 1}, {1, MaxOutputs + 1}} {
		_, err := Decode(header(c.in, c.out))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "standardness") {
			t.Errorf("%d inputs, %d outputs: %v; want ErrMalformed naming the limit", c.in, c.out, err)
		}
	}
	// At the limit the maps are read (and are missing here).
	if _, err := Decode(header(MaxInputs, 1)); err == nil || strings.Contains(err.Error(), "standardness") {
		t.Errorf("%d inputs refused for the count: %v", MaxInputs, err)
	}
}

// TestSizeHint: the buffer Serialize sizes first holds the PSBT without
// growing, and is not wildly larger.
func TestSizeHint(t *testing.T) {
	for _, script := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		_, p, _ := newSpend(t, script, 2, 3)
		b := mustSerialize(t, p)
		if h := sizeHint(p); h < len(b) || h > 2*len(b)+256 {
			t.Errorf("%s: size hint %d for a PSBT of %d bytes", script, h, len(b))
		}
	}
}
