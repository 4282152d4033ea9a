package bbproto

import (
	"encoding/hex"
	"errors"
	"testing"
)

// TestRequestBytes checks encodings worked out by hand from the schema
// (hww.proto, btc.proto field numbers; proto3 packed repeated fields).
func TestRequestBytes(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		want string
	}{
		// fingerprint = 24, an empty message: tag 24<<3|2 = 0xc2 0x01.
		{"fingerprint", Request{Fingerprint: true}, "c20100"},
		{"device info", Request{DeviceInfo: true}, "2200"},
		// btc_pub = 8; keypath [0x80000000] packed; xpub_type TPUB (0) is
		// written because it is a oneof member.
		{"xpub tpub", Request{BTCPub: &BTCPubRequest{Coin: CoinTBTC, Keypath: []uint32{0x80000000}, XPubType: XPubTypeTPUB}},
			"420b" + "0801" + "12058080808008" + "1800"},
		// btc = 25 (0xca 0x01), prevtx_output = 5.
		{"prevtx output", Request{BTC: &BTCRequest{PrevTxOutput: &BTCPrevTxOutputRequest{Value: 300, PubkeyScript: []byte{0x51}}}}, "ca0108" + "2a06" + "08ac02" + "120151"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.req.Marshal()); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestResponseDecode(t *testing.T) {
	cases := []struct {
		hex  string
		kind string
	}{
		{"0a00", KindSuccess},
		{"1206086812026162", KindError},
		{"62060a04" + "73c5da0a", KindFingerprint},
		{"3206" + "0801" + "1001" + "1801", KindSignNext},
		{"6a08" + "1a06" + "0801" + "1001" + "1801", KindBTCSignNext},
		{"6a04" + "1202" + "0801", KindIsRegistered},
		{"6a02" + "0a00", KindBTCSuccess},
		{"7a00", KindOther},
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		var r Response
		if err := r.Unmarshal(b); err != nil {
			t.Fatalf("%s: %v", c.hex, err)
		}
		if r.Kind != c.kind {
			t.Errorf("%s: kind %s, want %s", c.hex, r.Kind, c.kind)
		}
	}
	var r Response
	b, _ := hex.DecodeString("1206086812026162")
	r.Unmarshal(b)
	if r.Error.Code != 104 || r.Error.Message != "ab" {
		t.Fatalf("error %+v", r.Error)
	}
	for _, bad := range []string{"ff", "12", "1202ff", "0801", "3203ffffff"} {
		b, _ := hex.DecodeString(bad)
		if err := r.Unmarshal(b); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// FuzzResponse: decoding arbitrary responses is an error or a value,
// never a panic.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{"0a00", "1206086812026162", "62060a0473c5da0a", "3206080110011801", "6a080a0012020801", "2a0a0a0876393a32312e30"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Response
		if err := r.Unmarshal(b); err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error not wrapping ErrDecode: %v", err)
			}
			return
		}
		if r.Kind == "" {
			t.Fatal("decoded with no kind")
		}
		var x XPub
		_ = x.Unmarshal(b)
		var k KeyOriginInfo
		_ = k.Unmarshal(b)
	})
}
