package psbt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/vectors"
)

// byBtcd decodes raw the way Decode did before it built Packets itself:
// the scan, btcd's parser on the version 0 form, then the rules.
func byBtcd(raw []byte) (p *bpsbt.Packet, err error) {
	sc, err := scanPSBT(raw)
	if err != nil {
		return nil, err
	}
	if !sc.inOrder() {
		if raw, err = sc.v0Bytes(); err != nil {
			return nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, malformed("btcd's parser panicked: %v", r)
		}
	}()
	p, err = bpsbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		return nil, malformed("%v", err)
	}
	return p, validate(p, curveLater)
}

// byPacket decodes raw with the scan's own Packet builder; errUseBtcdParser
// when it leaves the PSBT to btcd.
func byPacket(raw []byte) (*bpsbt.Packet, error) {
	sc, err := scanPSBT(bytes.Clone(raw))
	if err != nil {
		return nil, err
	}
	p, err := sc.packet()
	if err != nil {
		return nil, err
	}
	if err := validate(p, curveLater); err != nil {
		return nil, err
	}
	// What the first function to read the packet checks.
	return p, NewMemo().checkKeys(p)
}

// sameDecoding fails unless both decoders refuse raw, or both give equal
// Packets. It reports whether the builder handled raw itself.
func sameDecoding(t *testing.T, raw []byte) bool {
	t.Helper()
	got, gotErr := byPacket(raw)
	if errors.Is(gotErr, errUseBtcdParser) {
		return false
	}
	want, wantErr := byBtcd(raw)
	switch {
	case gotErr != nil && wantErr != nil:
		return true
	case gotErr != nil:
		t.Fatalf("the Packet builder refuses what btcd's parser accepts: %v\n%x", gotErr, raw)
	case wantErr != nil:
		t.Fatalf("the Packet builder accepts what btcd's parser refuses (%v)\n%x", wantErr, raw)
	}
	// btcd reads a witness_utxo script as everything after byte 9,
	// whatever its length prefix says; past 252 bytes that takes the
	// prefix's other bytes into the script, where the builder does not.
	for i := range want.Inputs {
		if u := want.Inputs[i].WitnessUtxo; u != nil && len(u.PkScript) > 0xfc {
			return true
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the Packet builder and btcd's parser give different Packets for\n%x\n got %+v\nwant %+v", raw, got, want)
	}
	return true
}

// decodeSamples are PSBTs of every kind the project has: the BIP-174 and
// BIP-370 vectors (valid and invalid) and wallet PSBTs of each script type
// at each stage (unsigned, partly signed, fully signed, finalized).
func decodeSamples(t testing.TB) [][]byte {
	var out [][]byte
	var v174 bip174
	vectors.Load(t, "psbt_bip174.json", &v174)
	var v370 bip370
	vectors.Load(t, "psbt_bip370.json", &v370)
	for _, set := range [][]vectorCase{v174.Invalid, v174.Valid, v174.SignerCheckFailures, v370.Invalid, v370.Valid} {
		for _, c := range set {
			if b, err := hex.DecodeString(c.Hex); err == nil {
				out = append(out, b)
			}
		}
	}
	for _, s := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		tw, p, _ := newSpend(t, s, 2, 3)
		out = append(out, mustSerialize(t, p))
		tw.sign(t, p, 0)
		out = append(out, mustSerialize(t, p))
		tw.sign(t, p, 2)
		out = append(out, mustSerialize(t, p))
		v2, err := SerializeVersion(p, 2)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v2)
		if err := FinalizePacket(p, tw.info); err != nil {
			t.Fatal(err)
		}
		out = append(out, mustSerialize(t, p))
	}
	return out
}

// TestPacketMatchesBtcdParser decodes every sample, and each of them with
// every byte changed in turn (every seventh with -short) (the mutations reach every record's checks),
// with the Packet builder and with btcd's parser: both refuse, or both
// give the same Packet.
func TestPacketMatchesBtcdParser(t *testing.T) {
	handled, mutants := 0, 0
	for _, raw := range decodeSamples(t) {
		if sameDecoding(t, raw) {
			handled++
		}
		if len(raw) > 4000 {
			continue // the small ones are enough to reach every record type
		}
		step := 1
		if testing.Short() {
			step = 7
		}
		for i := 5; i < len(raw); i += step {
			m := bytes.Clone(raw)
			m[i]++
			sameDecoding(t, m)
			mutants++
		}
	}
	if handled < 20 {
		t.Fatalf("the Packet builder handled only %d samples itself", handled)
	}
	t.Logf("%d samples handled by the builder, %d mutations compared", handled, mutants)
}

// TestDecodeKeepsCallerBuffer: a decoded Packet does not share the bytes
// the caller passed, so reusing that buffer cannot change it.
func TestDecodeKeepsCallerBuffer(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	tw.sign(t, p, 0)
	raw := mustSerialize(t, p)
	q, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	before := mustSerialize(t, q)
	for i := range raw {
		raw[i] = 0xee
	}
	if !bytes.Equal(before, mustSerialize(t, q)) {
		t.Fatal("changing the caller's buffer changed the decoded Packet")
	}
	// Appending to a record cannot write over the next one.
	in := &q.Inputs[0]
	_ = append(in.WitnessScript, 0xff, 0xff, 0xff)
	if !bytes.Equal(before, mustSerialize(t, q)) {
		t.Fatal("appending to a decoded record changed another")
	}
}

// FuzzPacketMatchesBtcdParser compares the Packet builder with btcd's
// parser on any bytes (seeds: testdata/fuzz/FuzzPacketMatchesBtcdParser
// and every sample of decodeSamples).
func FuzzPacketMatchesBtcdParser(f *testing.F) {
	for _, s := range decodeSamples(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameDecoding(t, raw)
	})
}
