package coldcard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/vectors"
)

// simulatorWords is the seed of the Coldcard firmware's test simulator
// (testing/constants.py, simulator_fixed_words); its master fingerprint is
// 0F056943, the "created on" device of the published setup file in
// ../shared/vectors/coldcard_multisig_file.txt.
const simulatorWords = "wife shiver author away frog air rough vanish fantasy frozen noodle athlete pioneer citizen symptom firm much faith extend rare axis garment kiwi clarify"

const abandonWords = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func newEmu(t testing.TB, words string) *Emulator {
	t.Helper()
	e, err := New(Config{Mnemonic: words})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSimulatorSeed(t *testing.T) {
	e := newEmu(t, simulatorWords)
	if fp := e.Fingerprint(); hex.EncodeToString(fp[:]) != "0f056943" {
		t.Fatalf("fingerprint %x, want the simulator's 0f056943", fp)
	}
	if _, err := New(Config{Mnemonic: "abandon abandon"}); err == nil {
		t.Fatal("invalid mnemonic accepted")
	}
}

// The emulator accepts a setup file the real firmware exported, which also
// checks its own derivation: the file's 0F056943 line must equal the key the
// emulator derives at m/48'/1'/0'/2'.
func TestPublishedSetupFile(t *testing.T) {
	text, err := os.ReadFile(vectors.Path(t, "coldcard_multisig_file.txt"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := newEmu(t, simulatorWords).parseSetupFile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if w.name != "CC-2-of-4" || w.m != 2 || w.n != 4 || w.addrFmt != afP2WSH || len(w.keys) != 4 {
		t.Fatalf("wallet %+v", w)
	}
	if got := pathString(w.keys[0].deriv); got != "48h/1h/0h/2h" {
		t.Fatalf("derivation %s", got)
	}
	// Another seed is not in the file.
	if _, err := newEmu(t, abandonWords).parseSetupFile(string(text)); err == nil || err.Error() != "my key not included" {
		t.Fatalf("foreign device: %v", err)
	}
}

func TestSetupFileChecks(t *testing.T) {
	text, err := os.ReadFile(vectors.Path(t, "coldcard_multisig_file.txt"))
	if err != nil {
		t.Fatal(err)
	}
	orig := string(text)
	lines := strings.Split(orig, "\n")
	var keyLines []string // "XFP: tpub..." lines, the simulator's own first
	for _, ln := range lines {
		if len(ln) > 9 && ln[8] == ':' {
			keyLines = append(keyLines, ln)
		}
	}
	if len(keyLines) != 4 || !strings.HasPrefix(keyLines[0], "0F056943:") {
		t.Fatalf("unexpected vector layout: %q", keyLines)
	}
	mine, other, third := keyLines[0], keyLines[1], keyLines[2]
	xpubOf := func(line string) string { return strings.TrimSpace(strings.SplitN(line, ":", 2)[1]) }
	k, err := hdkeychain.NewKeyFromString(xpubOf(other))
	if err != nil {
		t.Fatal(err)
	}
	mainnet, _ := k.CloneWithVersion(chaincfg.MainNetParams.HDPublicKeyID[:])
	e := newEmu(t, simulatorWords)
	cases := []struct {
		name, file, want string
	}{
		{"policy", strings.Replace(orig, "Policy: 2 of 4", "Policy: two of four", 1), "bad policy line"},
		{"M over N", strings.Replace(orig, "Policy: 2 of 4", "Policy: 5 of 4", 1), "bad policy line"},
		{"format", strings.Replace(orig, "Format: P2WSH", "Format: P2TR", 1), "bad format line"},
		{"count", strings.Replace(orig, "Policy: 2 of 4", "Policy: 2 of 3", 1), "wrong # of xpubs, expect 3"},
		{"depth", strings.Replace(orig, "m/48'/1'/0'/2'", "m/48'/1'/0'", 1), "deriv 3 != 4 xpub depth"},
		{"own key swapped", strings.Replace(orig, mine, "0F056943: "+xpubOf(other), 1), "wrong pubkey"},
		{"twice the same key", strings.Replace(orig, third, third[:8]+": "+xpubOf(other), 1), "same key under two XFPs"},
		{"name", strings.Replace(orig, "Name: CC-2-of-4", "Name: a name much longer than twenty", 1), "name must be ascii, 1..20 long"},
		{"corrupted xpub", strings.Replace(orig, "tpubDF2rnouQ", "tpubDF2rnouR", 1), "unable to parse xpub"},
		{"mainnet key on testnet", strings.Replace(orig, xpubOf(other), mainnet.String(), 1), "wrong chain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.parseSetupFile(c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// The emulator's session key is the documented one (same vector as the
// driver's test: ../../coldcard/crypto_test.go).
func TestECDHVector(t *testing.T) {
	dev, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{0x22}, 32))
	hostXY, _ := hex.DecodeString("4f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa385b6b1b8ead809ca67454d9683fcf2ba03456d6fe2c4abe2b07f0fbdbb2f1c1")
	key, err := ecdhKey(dev, hostXY)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(key[:]) != "3b2265dac86fe15fdaa31b1273fb3f8cbfc54663a7298f5e36ddac38e22dd993" {
		t.Fatalf("session key %x", key)
	}
	hostXY[10] ^= 1
	if _, err := ecdhKey(dev, hostXY); err == nil {
		t.Fatal("off-curve host key accepted")
	}
}

// rawHost speaks the framing in clear, to poke at the device side.
type rawHost struct {
	t  *testing.T
	tr transport.Transport
}

func startRaw(t *testing.T) (*Emulator, *rawHost) {
	e := newEmu(t, abandonWords)
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, dev) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, &rawHost{t: t, tr: host}
}

func (h *rawHost) send(flag byte, payload []byte) {
	r := make([]byte, reportSize)
	r[0] = flag
	copy(r[1:], payload)
	if err := h.tr.Write(context.Background(), r); err != nil {
		h.t.Fatal(err)
	}
}

// call sends msg in clear and returns the reply, which must come in clear.
func (h *rawHost) call(msg []byte) string {
	for off := 0; off < len(msg); off += 63 {
		n := min(63, len(msg)-off)
		flag := byte(n)
		if off+n == len(msg) {
			flag |= 0x80
		}
		h.send(flag, msg[off:off+n])
	}
	return h.reply()
}

func (h *rawHost) reply() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []byte
	for {
		r, err := h.tr.Read(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if r[0]&0x40 != 0 {
			h.t.Fatal("encrypted reply to a plaintext request")
		}
		out = append(out, r[1:1+r[0]&0x3f]...)
		if r[0]&0x80 != 0 {
			return string(out)
		}
	}
}

func TestDeviceSideRules(t *testing.T) {
	_, h := startRaw(t)
	u32 := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	cases := []struct {
		req  []byte
		want string
	}{
		{[]byte("pingecho"), "binyecho"},
		{[]byte("blkc"), "asciXTN"},
		{[]byte("xpubm/48h"), "err_must encrypt"},
		{[]byte("mitm"), "err_must encrypt"},
		{append([]byte("dwld"), u32(0, 10, 1)...), "err_must encrypt"},
		{[]byte("stok"), "err_No active request"},
		{append([]byte("upld"), append(u32(5, 100), 1)...), "err_alignment"},
		{append([]byte("upld"), append(u32(0, maxUploadLen+1), 1)...), "err_long"},
		{append([]byte("upld"), append(u32(256, 1000), 1)...), "err_offset"},
		{append([]byte("enrl"), make([]byte, 36)...), "err_Checksum"},
		{append([]byte("stxn"), make([]byte, 3)...), "err_badlen"},
		{append([]byte("msck"), u32(2, 3, 0)...), "int1\x00\x00\x00\x00"},
		{append([]byte("ncry"), u32(3)...), "frambad ncry version"},
		{[]byte("what"), "err_Unknown cmd"},
		{append([]byte("p2sh"), u32(0x0e)...), "err_badlen"},
	}
	for _, c := range cases {
		if got := h.call(c.req); got != c.want {
			t.Errorf("%q: reply %q, want %q", c.req, got, c.want)
		}
	}

	// An encrypted frame before any session: framing error.
	h.send(0x80|0x40|4, []byte("okay"))
	if got := h.reply(); got != "framno key" {
		t.Errorf("encrypted without key: %q", got)
	}
	// A zero-length frame resets a half-received message, silently.
	h.send(63, bytes.Repeat([]byte("x"), 63))
	h.send(0x80, nil)
	if got := h.call([]byte("pingok")); got != "binyok" {
		t.Errorf("after reset: %q", got)
	}
	// Messages over the limit.
	for range maxMsgLen/63 + 1 {
		h.send(63, bytes.Repeat([]byte("y"), 63))
	}
	if got := h.reply(); got != "framxlong" {
		t.Errorf("over-long message: %q", got)
	}
	// A short datagram (not a full report).
	h.tr.Write(context.Background(), []byte{0x84, 'p', 'i', 'n', 'g'})
	if got := h.reply(); got != "framshort" {
		t.Errorf("short report: %q", got)
	}
}

func TestUploadAndChecksum(t *testing.T) {
	_, h := startRaw(t)
	data := bytes.Repeat([]byte{0xab}, 300)
	up := func(off int, part []byte) string {
		req := append([]byte("upld"), binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(off)), uint32(len(data)))...)
		return h.call(append(req, part...))
	}
	if got := up(0, data[:256]); got != "int1\x00\x00\x00\x00" {
		t.Fatalf("first block: %q", got)
	}
	if got := up(256, data[256:]); got != "int1\x00\x01\x00\x00" {
		t.Fatalf("second block: %q", got)
	}
	sum := h.call([]byte("sha2"))
	want := sha256.Sum256(data)
	if sum != "biny"+string(want[:]) {
		t.Fatalf("sha2 %x", sum)
	}
}

// dispatchCommands are the commands FuzzDispatch picks from by index.
var dispatchCommands = []string{"ping", "vers", "blkc", "ncry", "mitm", "xpub", "upld", "sha2", "dwld", "enrl", "msck", "p2sh", "stxn", "stok", "zzzz", "mins", "msls", "msas", "msgt", "msdl"}

// FuzzDispatch runs one command with arbitrary arguments on a fresh
// session: the device side never panics and always replies. Seeds:
// testdata/fuzz/FuzzDispatch (each command with the arguments the driver
// sends, and malformed ones).
func FuzzDispatch(f *testing.F) {
	cmds := dispatchCommands
	f.Add(uint8(5), []byte("m/48h/1h"))
	f.Add(uint8(11), append(binary.LittleEndian.AppendUint32(nil, 0x0e), 2, 3, 30, 0))
	f.Add(uint8(6), append(make([]byte, 8), 1, 2, 3))
	e := newEmu(f, abandonWords)
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		host, dev := transport.Pipe()
		defer host.Close()
		s := &session{e: e, t: dev, ctx: context.Background(), encReq: true}
		s.resetUpload()
		resp := s.handle(cmds[int(which)%len(cmds)], args)
		if len(resp) < 4 {
			t.Fatalf("reply %q", resp)
		}
		s.jobs.Wait()
	})
}

// FuzzReviewPSBT has the device review an uploaded PSBT: it finishes or
// fails, never panics. Seeds: testdata/fuzz/FuzzReviewPSBT (the BIP-174
// vectors, and the wallet PSBTs the driver tests sign, recorded by
// hw/coldcard's TestFuzzCorpus).
func FuzzReviewPSBT(f *testing.F) {
	f.Add([]byte("psbt\xff\x00"))
	f.Add([]byte("psbt\xff\x01\x00\x0a\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	e := newEmu(f, abandonWords)
	f.Fuzz(func(t *testing.T, raw []byte) {
		a := &approval{kind: "sign"}
		e.runSign(&session{e: e, ctx: context.Background()}, a, raw, nil)
		if !a.done && a.failed == "" && !a.refused {
			t.Fatal("review neither failed nor finished")
		}
	})
}
