package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/transport"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// start serves an emulator on a loopback port until the test ends.
func start(t testing.TB, cfg Config) (*Emulator, string) {
	t.Helper()
	if cfg.Mnemonic == "" {
		cfg.Mnemonic = testMnemonic
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e, ln.Addr().String()
}

// rawHost speaks Speculos framing byte by byte, to send what a well-behaved
// client never would.
type rawHost struct {
	t testing.TB
	s *transport.Stream
}

func connect(t testing.TB, addr string) *rawHost {
	t.Helper()
	s, err := transport.DialTCP(context.Background(), addr, transport.StreamOptions{ReadTrailer: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &rawHost{t: t, s: s}
}

func (h *rawHost) send(apdu string) ([]byte, uint16) {
	h.t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(apdu, " ", ""))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.sendBytes(b)
}

func (h *rawHost) sendBytes(b []byte) ([]byte, uint16) {
	h.t.Helper()
	if err := h.s.WriteMessage(context.Background(), b); err != nil {
		h.t.Fatal(err)
	}
	r, err := h.s.ReadMessage(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return r[:len(r)-2], binary.BigEndian.Uint16(r[len(r)-2:])
}

func cont(data []byte) []byte {
	return append([]byte{claFramework, insContinue, 0, 1, byte(len(data))}, data...)
}

func TestAPDUDispatch(t *testing.T) {
	e, addr := start(t, Config{})
	h := connect(t, addr)
	data, sw := h.send("b0 01 00 00 00")
	if sw != swOK || hex.EncodeToString(data) != "010c"+hex.EncodeToString([]byte("Bitcoin Test"))+"05"+hex.EncodeToString([]byte("2.1.3"))+"0100" {
		t.Errorf("GET_VERSION %x %#x", data, sw)
	}
	fp := e.Fingerprint()
	if data, sw := h.send("e1 05 00 01 00"); sw != swOK || !bytes.Equal(data, fp[:]) {
		t.Errorf("GET_MASTER_FINGERPRINT %x %#x", data, sw)
	}
	master, _ := hdkeychain.NewMaster(bip39.NewSeed(testMnemonic, ""), &chaincfg.TestNet3Params)
	pub, _ := master.Neuter()
	if data, sw := h.send("e1 00 00 01 02 01 00"); sw != swOK || string(data) != pub.String() {
		t.Errorf("GET_EXTENDED_PUBKEY m %s %#x", data, sw)
	}
	for apdu, want := range map[string]uint16{
		"e1 00 00 01 02 00 00":       swNotSupported,    // the master key silently
		"e1 00 00 01 02 02 00":       swIncorrectData,   // display 2
		"e1 00 00 01 03 00 01 80":    swWrongDataLength, // truncated path
		"f8 01 00 01 00":             swBadState,        // CONTINUE without a command
		"e0 c4 00 00 00":             swClaNotSupported, // the legacy app's class
		"e1 05 01 01 00":             swWrongP1P2,
		"e1 05 00 02 00":             swWrongP1P2,
		"e1 77 00 01 00":             swInsNotSupported,
		"e1 05 00 01 05 00":          swWrongDataLength, // Lc says 5, 1 byte follows
		"e1 03 00 01 01 00":          swWrongDataLength,
		"e1 04 00 01 03 00 00 00":    swWrongDataLength,
		"e1 02 00 01 02 05 00":       swWrongDataLength,
		"e1 03 00 01 46" + zeros(70): swIncorrectData, // no HMAC: default wallets are not offered
	} {
		if _, sw := h.send(apdu); sw != want {
			t.Errorf("%s: status %#04x, want %#04x", apdu, sw, want)
		}
	}
}

func zeros(n int) string { return strings.Repeat("00", n) }

func TestLockedAndOtherApps(t *testing.T) {
	_, addr := start(t, Config{Locked: true})
	if _, sw := connect(t, addr).send("b0 01 00 00 00"); sw != swLocked {
		t.Errorf("locked: %#x", sw)
	}
	_, addr = start(t, Config{AppName: "BOLOS", AppVersion: "2.2.3"})
	h := connect(t, addr)
	if data, sw := h.send("b0 01 00 00 00"); sw != swOK || !bytes.Contains(data, []byte("BOLOS")) {
		t.Errorf("dashboard GET_VERSION: %x %#x", data, sw)
	}
	if _, sw := h.send("e1 05 00 01 00"); sw != swClaNotSupported {
		t.Errorf("dashboard Bitcoin command: %#x", sw)
	}
}

// testPolicy is a 2-of-2 policy with the emulator's key at m/48'/1'/0'/2'
// and another key, serialized by hand as doc/wallet.md describes.
type testPolicy struct {
	name, template string
	keys           []string
}

func (p testPolicy) keysRoot() [32]byte {
	var leaves [][32]byte
	for _, k := range p.keys {
		leaves = append(leaves, elementHash([]byte(k)))
	}
	return simpleRoot(leaves)
}

func (p testPolicy) serialize() []byte {
	th := sha256.Sum256([]byte(p.template))
	root := p.keysRoot()
	out := []byte{2, byte(len(p.name))}
	out = append(out, p.name...)
	out = append(out, varint(uint64(len(p.template)))...)
	out = append(out, th[:]...)
	out = append(out, varint(uint64(len(p.keys)))...)
	return append(out, root[:]...)
}

// simpleRoot is MTH by recursion.
func simpleRoot(l [][32]byte) [32]byte {
	switch len(l) {
	case 0:
		return [32]byte{}
	case 1:
		return l[0]
	}
	k := 1
	for k*2 < len(l) {
		k *= 2
	}
	return combine(simpleRoot(l[:k]), simpleRoot(l[k:]))
}

func newTestPolicy(t testing.TB) testPolicy {
	master, _ := hdkeychain.NewMaster(bip39.NewSeed(testMnemonic, ""), &chaincfg.TestNet3Params)
	other, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{9}, 32), &chaincfg.TestNet3Params)
	var keys []string
	for _, m := range []*hdkeychain.ExtendedKey{master, other} {
		k := m
		for _, s := range []uint32{48, 1, 0, 2} {
			k, _ = k.Derive(s + hdkeychain.HardenedKeyStart)
		}
		pub, _ := k.Neuter()
		mp, _ := m.ECPubKey()
		fp := btcutil.Hash160(mp.SerializeCompressed())[:4]
		keys = append(keys, fmt.Sprintf("[%x/48'/1'/0'/2']%s", fp, pub))
	}
	return testPolicy{name: "lies", template: "wsh(sortedmulti(2,@0/**,@1/**))", keys: keys}
}

// honest answers the client commands of a registration truthfully; lie
// may replace any answer.
func register(t *testing.T, h *rawHost, p testPolicy, lie func(req []byte, honest []byte) []byte) ([]byte, uint16) {
	ser := p.serialize()
	data, sw := h.sendBytes(append([]byte{claBitcoin, insRegisterWallet, 0, 1, byte(1 + len(ser)), byte(len(ser))}, ser...))
	for sw == swInterrupted {
		ans := answer(t, p, data)
		if lie != nil {
			ans = lie(data, ans)
		}
		data, sw = h.sendBytes(cont(ans))
	}
	return data, sw
}

// answer is a minimal honest client for a policy's trees (proofs fit in
// one response for up to 16 keys; the keys' count fits the request's last
// byte).
func answer(t *testing.T, p testPolicy, req []byte) []byte {
	switch req[0] {
	case ccGetPreimage:
		var h [32]byte
		copy(h[:], req[2:])
		for _, pre := range append([][]byte{[]byte(p.template), p.serialize()}, keyPreimages(p)...) {
			if sha256.Sum256(pre) == h {
				return append(append(varint(uint64(len(pre))), byte(len(pre))), pre...)
			}
		}
	case ccGetMerkleLeafProof:
		idx := uint64(req[len(req)-1])
		var leaves [][32]byte
		for _, k := range p.keys {
			leaves = append(leaves, elementHash([]byte(k)))
		}
		proof := auditPath(idx, leaves)
		out := append(append([]byte(nil), leaves[idx][:]...), byte(len(proof)), byte(len(proof)))
		for _, h := range proof {
			out = append(out, h[:]...)
		}
		return out
	}
	t.Fatalf("unexpected request %x", req)
	return nil
}

func keyPreimages(p testPolicy) [][]byte {
	var out [][]byte
	for _, k := range p.keys {
		out = append(out, append([]byte{0}, k...))
	}
	return out
}

func TestRegisterChecksWhatTheHostReveals(t *testing.T) {
	_, addr := start(t, Config{HMACKey: bytes.Repeat([]byte{1}, 32)})
	h := connect(t, addr)
	p := newTestPolicy(t)
	data, sw := register(t, h, p, nil)
	id := sha256.Sum256(p.serialize())
	if sw != swOK || len(data) != 64 || !bytes.Equal(data[:32], id[:]) {
		t.Fatalf("honest registration: %x %#x", data, sw)
	}
	for name, lie := range map[string]func(req, honest []byte) []byte{
		"wrong template preimage": func(req, honest []byte) []byte {
			if req[0] == ccGetPreimage && honest[len(honest)-1] == ')' {
				honest[len(honest)-2] = '('
			}
			return honest
		},
		"forged proof": func(req, honest []byte) []byte {
			if req[0] == ccGetMerkleLeafProof {
				honest[40] ^= 1
			}
			return honest
		},
		"wrong leaf": func(req, honest []byte) []byte {
			if req[0] == ccGetMerkleLeafProof {
				honest[0] ^= 1
			}
			return honest
		},
		"short proof": func(req, honest []byte) []byte {
			if req[0] == ccGetMerkleLeafProof {
				return honest[:34]
			}
			return honest
		},
		"length lie": func(req, honest []byte) []byte {
			if req[0] == ccGetPreimage {
				honest[0]++
			}
			return honest
		},
	} {
		if _, sw := register(t, h, p, lie); sw != swIncorrectData {
			t.Errorf("%s: status %#04x, want 0x6a80", name, sw)
		}
	}
	// Anything but CONTINUE during a command ends it with 0x6a80; the next
	// command works.
	ser := p.serialize()
	if _, sw := h.sendBytes(append([]byte{claBitcoin, insRegisterWallet, 0, 1, byte(1 + len(ser)), byte(len(ser))}, ser...)); sw != swInterrupted {
		t.Fatalf("registration start: %#x", sw)
	}
	if _, sw := h.send("e1 05 00 01 00"); sw != swIncorrectData {
		t.Errorf("a command during an interruption: %#x", sw)
	}
	if _, sw := h.send("e1 05 00 01 00"); sw != swOK {
		t.Errorf("after the aborted command: %#x", sw)
	}
	// Names the app refuses.
	p.name = " lies"
	if data, sw := register(t, h, p, nil); sw != swIncorrectData || !bytes.Equal(data, []byte{0, 0}) {
		t.Errorf("bad name: %x %#x", data, sw)
	}
}

func TestMerkleProofFolding(t *testing.T) {
	for size := uint64(1); size <= 33; size++ {
		var leaves [][32]byte
		for i := uint64(0); i < size; i++ {
			leaves = append(leaves, elementHash([]byte{byte(i)}))
		}
		root := simpleRoot(leaves)
		for i := uint64(0); i < size; i++ {
			proof := auditPath(i, leaves)
			if got, ok := rootFromProof(size, i, leaves[i], proof); !ok || got != root {
				t.Fatalf("size %d leaf %d: proof does not fold to the root", size, i)
			}
			if len(proof) > 0 {
				bad := append([][32]byte(nil), proof...)
				bad[0][3] ^= 1
				if got, _ := rootFromProof(size, i, leaves[i], bad); got == root {
					t.Fatalf("size %d leaf %d: a forged proof folds to the root", size, i)
				}
				if _, ok := rootFromProof(size, i, leaves[i], proof[1:]); ok {
					t.Fatalf("size %d leaf %d: a short proof was accepted", size, i)
				}
			}
		}
	}
}

// auditPath is RFC 6962's PATH(m, D[n]), bottom-up.
func auditPath(m uint64, d [][32]byte) [][32]byte {
	if len(d) <= 1 {
		return nil
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	if m < uint64(k) {
		return append(auditPath(m, d[:k]), simpleRoot(d[k:]))
	}
	return append(auditPath(m-uint64(k), d[k:]), simpleRoot(d[:k]))
}

func TestParseTemplate(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"wsh(sortedmulti(2,@0/**,@1/**,@2/**))":                                                                 true,
		"sh(wsh(multi(1,@1/**,@0/<0;1>/*,@2/**)))":                                                              true,
		"sh(sortedmulti(3,@0/**,@1/**,@2/**))":                                                                  true,
		"wsh(sortedmulti(4,@0/**,@1/**,@2/**))":                                                                 false, // 4 of 3
		"wsh(sortedmulti(0,@0/**,@1/**,@2/**))":                                                                 false,
		"wsh(sortedmulti(02,@0/**,@1/**,@2/**))":                                                                false,
		"wsh(sortedmulti(2,@0/**,@1/**,@3/**))":                                                                 false, // no @3
		"wsh(sortedmulti(2,@0/**,@1/**))":                                                                       false, // @2 unused
		"wsh(sortedmulti(2,@0,@1/**,@2/**))":                                                                    false,
		"wsh(sortedmulti(2,@0/**,@1/**,@2/**)":                                                                  false,
		"wsh(sortedmulti(2,@0/<1;0>/*,@1/**,@2/**))":                                                            true, // any distinct M;N (parse_keyexpr)
		"wsh(sortedmulti(2,@0/<1;1>/*,@1/**,@2/**))":                                                            false,
		"sh(or_d(pk(@0/**),multi(1,@1/**,@2/**)))":                                                              false, // no miniscript in sh
		"sh(wsh(or_d(pk(@0/**),multi(1,@1/**,@2/**))))":                                                         false,
		"wsh(or_d(pk(@0/**),multi(1,@1/**,@2/**)))":                                                             true,
		"wsh(or_d(pk(@0/**),sortedmulti(1,@1/**,@2/**)))":                                                       false, // sortedmulti is not miniscript
		"wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(52560))))":                           true,
		"wsh(andor(multi(2,@0/**,@1/**),or_i(and_v(v:pkh(@2/**),after(1000)),older(100)),pk(@1/<2;3>/*)))":      true,
		"wsh(thresh(2,pk(@0/**),s:pk(@1/**),s:pk(@2/**)))":                                                      true,
		"wsh(thresh(2,pk(@0/**),pk(@1/**),s:pk(@2/**)))":                                                        false, // W expected
		"wsh(and_v(pk(@0/**),pk(@1/**),pk(@2/**)))":                                                             false,
		"wsh(and_v(v:pk(@0/**),multi_a(1,@1/**,@2/**)))":                                                        false, // multi_a only in tr
		"wsh(c:pk_k(@0/**),@1/**,@2/**)":                                                                        false,
		"tr(@0/**)":                                                                                             false, // @1, @2 unused
		"tr(@0/**,sortedmulti_a(2,@0/<2;3>/*,@1/**,@2/**))":                                                     true,
		"tr(@0/**,{pk(@1/**),multi_a(1,@1/<2;3>/*,@2/**)})":                                                     true,
		"tr(@0/**,{{pk(@1/**),pk(@2/**)},and_v(v:pk(@1/<2;3>/*),older(10))})":                                   true,
		"tr(@0/**,multi(1,@1/**,@2/**))":                                                                        false, // multi not in tr
		"tr(@0/**,{pk(@1/**)})":                                                                                 false,
		"tr(@0/**,{pk(@1/**),pk(@2/**)}":                                                                        false,
		"tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))":                                             true,
		"tr(musig(@0)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))":                                                   false,
		"tr(@0/**,pk(musig(@1,@2)/**))":                                                                         true,
		"wsh(pk(musig(@0,@1,@2)/**))":                                                                           false, // musig only in tr
		"tr(@0/**,and_v(v:pk(@1/**),sha256(e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)))": false, // @2 unused
		"wpkh(@0/**)": false,
		"wsh(0)":      false,
		"":            false,
		"tr(@0/**,{{{{{{{{{pk(@1/**),pk(@2/**)},0},0},0},0},0},0},0},0})": false, // deeper than 8
	} {
		_, err := parseTemplate(tmpl, 3, mustFeatures(LatestAppVersion))
		if (err == nil) != ok {
			t.Errorf("%s: %v", tmpl, err)
		}
	}
}

// TestParseTemplateOldApp checks that versions refuse what they did not
// know, with SW_INCORRECT_DATA as the app's parser fails.
func TestParseTemplateOldApp(t *testing.T) {
	for _, c := range []struct {
		version, tmpl string
		ok            bool
	}{
		{"2.1.3", "tr(@0/**,sortedmulti_a(2,@0/<2;3>/*,@1/**,@2/**))", true},
		{"2.1.3", "tr(@0/**,{pk(@1/**),{pk(@2/**),multi_a(1,@1/<2;3>/*,@2/<2;3>/*)}})", true},
		{"2.1.3", "tr(@0/**,{pk(@1/**),and_v(v:pk(@2/**),older(10))})", false}, // taproot miniscript: 2.2.0
		{"2.2.0", "tr(@0/**,{pk(@1/**),and_v(v:pk(@2/**),older(10))})", true},
		{"2.1.3", "tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", false},
		{"2.3.0", "tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", false},
		{"2.4.0", "tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", true},
		{"2.1.1", "tr(@0/**,sortedmulti_a(2,@0/<2;3>/*,@1/**,@2/**))", false},
		{"2.1.0", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(52560))))", true},
		{"2.0.6", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(52560))))", false},
		{"2.1.3", "tr(@0/**,{{{{pk(@1/**),pk(@2/**)},0},0},0})", false}, // deeper than 3
	} {
		_, err := parseTemplate(c.tmpl, 3, mustFeatures(c.version))
		if (err == nil) != c.ok {
			t.Errorf("%s %s: %v", c.version, c.tmpl, err)
		}
		var se *swError
		if err != nil && (!errors.As(err, &se) || se.sw != swIncorrectData || se.hasCode) {
			t.Errorf("%s %s: %v, want 0x6a80 without a code", c.version, c.tmpl, err)
		}
	}
}
