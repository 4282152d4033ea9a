package trezorproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

func sampleMultisig() *MultisigRedeemScriptType {
	node := HDNodeType{Depth: 4, Fingerprint: 0xdeadbeef, ChildNum: 0x80000002, ChainCode: bytes.Repeat([]byte{1}, 32), PublicKey: append([]byte{2}, bytes.Repeat([]byte{3}, 32)...)}
	return &MultisigRedeemScriptType{
		Pubkeys:      []HDNodePathType{{Node: node, AddressN: []uint32{0, 5}}, {Node: node, AddressN: []uint32{1, 7}}},
		Signatures:   [][]byte{{}, {0x30, 0x44}},
		M:            2,
		PubkeysOrder: U32(PubkeysOrderLexicographic),
	}
}

// messages lists one filled value of every message type.
func messages() []Message {
	ms := sampleMultisig()
	return []Message{
		&Initialize{SessionID: []byte{1, 2, 3}},
		&GetFeatures{},
		&Features{Vendor: "trezor.io", MajorVersion: 2, MinorVersion: 6, PatchVersion: 4, DeviceID: "ABC", PinProtection: true,
			Language: "en-US", Label: "x", Initialized: true, Unlocked: true, Model: "T", Capabilities: []uint32{1, 17}, SessionID: []byte{9}},
		&Features{Vendor: "trezor.io", MajorVersion: 2, MinorVersion: 1, BootloaderMode: true, FirmwarePresent: true, FwMajor: 2, FwMinor: 6, FwPatch: 4},
		&Success{Message: "ok"},
		&Failure{Code: FailurePinInvalid, Message: "PIN invalid"},
		&ButtonRequest{Code: ButtonRequestSignTx},
		&ButtonAck{},
		&Cancel{},
		&PinMatrixRequest{Kind: PinMatrixRequestCurrent},
		&PinMatrixAck{Pin: "7391"},
		&PassphraseRequest{OnDevice: true},
		&PassphraseAck{Passphrase: Str("")},
		&PassphraseAck{OnDevice: true},
		&GetPublicKey{AddressN: []uint32{0x80000030, 1}, CoinName: "Testnet", ShowDisplay: true, ScriptType: U32(SpendWitness)},
		&PublicKey{HasNode: true, Node: ms.Pubkeys[0].Node, Xpub: "tpub...", RootFingerprint: U32(0x73c5da0a)},
		&GetAddress{AddressN: []uint32{1, 2}, CoinName: "Regtest", ShowDisplay: true, Multisig: ms, ScriptType: SpendP2SHWitness},
		&Address{Address: "tb1q..."},
		&SignTx{OutputsCount: 2, InputsCount: 50, CoinName: "Testnet", Version: U32(2), LockTime: U32(0)},
		&TxRequest{RequestType: U32(TxMeta), Details: &TxRequestDetailsType{TxHash: bytes.Repeat([]byte{7}, 32)}},
		&TxRequest{RequestType: U32(TxInput), Details: &TxRequestDetailsType{RequestIndex: U32(0)}, Serialized: &TxRequestSerializedType{SignatureIndex: U32(3), Signature: []byte{0x30}}},
		&TxAck{Tx: &TransactionType{Inputs: []TxInputType{{AddressN: []uint32{1}, PrevHash: bytes.Repeat([]byte{5}, 32), PrevIndex: 0,
			Sequence: U32(0xfffffffd), ScriptType: U32(SpendWitness), Multisig: ms, Amount: U64(100_000)}}}},
		&TxAck{Tx: &TransactionType{Outputs: []TxOutputType{{AddressN: []uint32{1, 4}, Amount: 5, ScriptType: PayToWitness, Multisig: ms}, {Address: "bc1...", Amount: 0}}}},
		&TxAck{Tx: &TransactionType{Version: U32(2), LockTime: U32(9), InputsCnt: U32(1), OutputsCnt: U32(2), ExtraDataLen: U32(0)}},
		&TxAck{Tx: &TransactionType{BinOutputs: []TxOutputBinType{{Amount: 21e14, ScriptPubkey: []byte{0x51}}}, Inputs: []TxInputType{{PrevHash: make([]byte, 32), ScriptSig: []byte{}}}}},
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	for _, m := range messages() {
		enc := m.Marshal()
		got := New(m.Type())
		if got == nil {
			t.Fatalf("New(%v) = nil", m.Type())
		}
		if err := got.Unmarshal(enc); err != nil {
			t.Fatalf("%v: %v (%x)", m.Type(), err, enc)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Errorf("%v: round trip\n got %#v\nwant %#v", m.Type(), got, m)
		}
		if !bytes.Equal(got.Marshal(), enc) {
			t.Errorf("%v: re-encoding differs", m.Type())
		}
	}
}

// normalize makes nil and empty byte slices compare equal.
func normalize(m Message) string { return hex.EncodeToString(m.Marshal()) }

// TestKnownEncodings pins encodings trezorlib 0.12 produces.
func TestKnownEncodings(t *testing.T) {
	for _, tc := range []struct {
		m   Message
		hex string
	}{
		// GetPublicKey(address_n=[48h, 1h], coin_name="Testnet"): unpacked repeated uint32.
		{&GetPublicKey{AddressN: []uint32{0x80000030, 0x80000001}, CoinName: "Testnet"}, "08b0808080080881808080082207546573746e6574"},
		{&ButtonAck{}, ""},
		{&TxRequest{RequestType: U32(TxFinished)}, "0803"},
	} {
		if got := hex.EncodeToString(tc.m.Marshal()); got != tc.hex {
			t.Errorf("%v: %s, want %s", tc.m.Type(), got, tc.hex)
		}
	}
}

func TestPackedRepeatedAccepted(t *testing.T) {
	// address_n as a packed field (wire type 2).
	b, _ := hex.DecodeString("0a0a" + "b080808008" + "8180808008")
	var m GetPublicKey
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.AddressN, []uint32{0x80000030, 0x80000001}) {
		t.Fatalf("address_n %v", m.AddressN)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		hex  string
	}{
		{"truncated varint", &Features{}, "10ff"},
		{"wrong wire type", &Features{}, "0a02"},
		{"uint32 overflow", &Features{}, "10ffffffffff01"},
		{"bad utf-8", &Address{}, "0a02ffff"},
		{"missing address", &Address{}, ""},
		{"missing pin", &PinMatrixAck{}, ""},
		{"truncated bytes", &TxAck{}, "0a05"},
		{"field number 0", &Failure{}, "0811" + "0000"},
		{"input without prev_hash", &TxAck{}, "0a04" + "12021800"},
		{"multisig without m", &GetAddress{}, "2200"},
		{"node without chain code", &PublicKey{}, "0a020800"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		if err := tc.m.Unmarshal(b); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v, want ErrDecode", tc.name, err)
		}
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	// Features with fields 37 (safety_checks) and 44 (a string) that this
	// package does not know.
	f := &Features{Vendor: "trezor.io", Model: "T"}
	b := f.Marshal()
	b = append(b, 0xa8, 0x02, 0x01)                     // 37: varint 1
	b = append(b, 0xe2, 0x02, 0x04, 'T', '2', 'T', '1') // 44: "T2T1"
	var got Features
	if err := got.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if got.Vendor != "trezor.io" || got.Model != "T" {
		t.Fatalf("%+v", got)
	}
}

// FuzzUnmarshal feeds arbitrary payloads to every message decoder and
// re-encodes what decodes: nothing may panic, and a decoded message must
// survive its own round trip. Seeds: testdata/fuzz/FuzzUnmarshal (every
// message of this package, and the messages of a recorded session between
// the driver and the emulator, both ways).
func FuzzUnmarshal(f *testing.F) {
	for _, m := range messages() {
		f.Add(uint16(m.Type()), m.Marshal())
	}
	f.Fuzz(func(t *testing.T, typ uint16, b []byte) {
		m := New(MessageType(typ % 64))
		if m == nil {
			return
		}
		if err := m.Unmarshal(b); err != nil {
			return
		}
		enc := m.Marshal()
		again := New(m.Type())
		if err := again.Unmarshal(enc); err != nil {
			t.Fatalf("%v: re-decoding own encoding: %v", m.Type(), err)
		}
		if !bytes.Equal(again.Marshal(), enc) {
			t.Fatalf("%v: encoding not stable", m.Type())
		}
	})
}

// FuzzAssembler feeds a stream of reports (the input cut into 64-byte
// pieces) to the codec: no panic, no payload above the limit, and each
// completed message encodes back into reports that reassemble to it.
// Seeds: testdata/fuzz/FuzzAssembler (every message of this package
// framed, and the reports of a recorded driver-emulator session).
func FuzzAssembler(f *testing.F) {
	rs, _ := EncodeReports(TypeTxAck, bytes.Repeat([]byte{1}, 100))
	f.Add(bytes.Join(rs, nil))
	f.Add([]byte("?##\x00\x03\x00\x00\x00\x14\x08\x11"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		asm := Assembler{Max: 4096}
		for off := 0; off < len(stream); off += ReportSize {
			typ, p, done, err := asm.Add(stream[off:min(off+ReportSize, len(stream))])
			if err != nil || !done {
				continue
			}
			if len(p) > 4096 {
				t.Fatalf("payload of %d bytes above the limit", len(p))
			}
			again, err := EncodeReports(typ, p)
			if err != nil {
				t.Fatal(err)
			}
			var b Assembler
			for _, r := range again {
				typ2, p2, done, err := b.Add(r)
				if err != nil || done && (typ2 != typ || !bytes.Equal(p2, p)) {
					t.Fatalf("re-encoded %v message of %d bytes came back as %v, %x, %v", typ, len(p), typ2, p2, err)
				}
			}
		}
	})
}
