package coldcard

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// The request layouts, packed by hand from ckcc/protocol.py's struct formats.
func TestRequestLayouts(t *testing.T) {
	var pub [64]byte
	pub[0], pub[63] = 0xaa, 0xbb
	var sha [32]byte
	sha[0], sha[31] = 0x01, 0x1f
	p2sh, err := reqShowP2SH(afP2WSH, 2, [][]uint32{{0x0a0b0c0d, 0x80000030, 5}, {1, 2}}, bytes.Repeat([]byte{0x51}, 30))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		got  []byte
		want string // hex
	}{
		{"ncry <4sI64s", reqEncryptStart(pub), "6e637279" + "01000000" + "aa" + strings.Repeat("00", 62) + "bb"},
		{"xpub text path", reqXpub([]uint32{48 + hardened, 1 + hardened, 0 + hardened, 2 + hardened, 7}), hex.EncodeToString([]byte("xpubm/48'/1'/0'/2'/7"))},
		{"xpub master", reqXpub(nil), hex.EncodeToString([]byte("xpubm"))},
		{"upld <4sII", reqUpload(0x800, 0x1234, []byte{9, 8}), "75706c64" + "00080000" + "34120000" + "0908"},
		{"dwld <4sIII", reqDownload(0x100, 0x800, 1), "64776c64" + "00010000" + "00080000" + "01000000"},
		{"stxn <4sII32s", reqSignTxn(0x10203, sha), "7374786e" + "03020100" + "00000000" + "01" + strings.Repeat("00", 30) + "1f"},
		{"enrl <4sI32s", reqEnroll(300, sha), "656e726c" + "2c010000" + "01" + strings.Repeat("00", 30) + "1f"},
		{"msck <4s3I", reqMultisigCheck(2, 3, 0xdeadbeef), "6d73636b" + "02000000" + "03000000" + "efbeadde"},
		{"p2sh <4sIBBH + paths", p2sh, "70327368" + "0e000000" + "02" + "02" + "1e00" + strings.Repeat("51", 30) +
			"03" + "0d0c0b0a" + "30000080" + "05000000" + "02" + "01000000" + "02000000"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if _, err := reqShowP2SH(afP2WSH, 3, [][]uint32{{1}, {2}}, bytes.Repeat([]byte{1}, 40)); err == nil {
		t.Error("M > N accepted")
	}
	if _, err := reqShowP2SH(afP2WSH, 1, [][]uint32{{1}}, []byte{1}); err == nil {
		t.Error("short script accepted")
	}
}

func TestDecodeReply(t *testing.T) {
	cases := []struct {
		msg     string
		code    string
		errCode string // replyError code, "" for none
		errSub  string // substring of a non-replyError error
	}{
		{"okay", "okay", "", ""},
		{"asciXTN", "asci", "", ""},
		{"err_Unknown multisig wallet", "err_", "err_", ""},
		{"refu", "refu", "refu", ""},
		{"busy", "busy", "busy", ""},
		{"framno key", "fram", "fram", ""},
		{"zzzz", "", "", "unknown reply code"},
		{"ok", "", "", "too short"},
	}
	for _, c := range cases {
		r, err := decodeReply([]byte(c.msg))
		var re *replyError
		switch {
		case c.errSub != "":
			if err == nil || !strings.Contains(err.Error(), c.errSub) {
				t.Errorf("%q: error %v, want %q", c.msg, err, c.errSub)
			}
		case c.errCode != "":
			if !errors.As(err, &re) || re.code != c.errCode {
				t.Errorf("%q: error %v, want a %s reply error", c.msg, err, c.errCode)
			}
		case err != nil || r.code != c.code:
			t.Errorf("%q: code %q err %v", c.msg, r.code, err)
		}
	}
	r, _ := decodeReply([]byte("err_Unknown multisig wallet"))
	_, err := decodeReply([]byte("err_Unknown multisig wallet"))
	if err.Error() != "Unknown multisig wallet" || r.code != "err_" {
		t.Errorf("err_ text: %v", err)
	}
}

func TestReplyShapes(t *testing.T) {
	mypb := func(xpub string, claim uint32) []byte {
		b := append([]byte("mypb"), bytes.Repeat([]byte{1}, 64)...)
		b = append(b, 0x0f, 0x05, 0x69, 0x43)
		b = append(b, le32(claim)...)
		return append(b, xpub...)
	}
	r, _ := decodeReply(mypb("tpubABC", 7))
	s, err := r.mypb()
	if err != nil || s.xpub != "tpubABC" || s.xfp != [4]byte{0x0f, 0x05, 0x69, 0x43} {
		t.Fatalf("mypb: %+v %v", s, err)
	}
	for _, bad := range [][]byte{mypb("tpubABC", 8), mypb("tpubABC", 1<<31), mypb("tp b", 4), []byte("mypb")} {
		r, _ := decodeReply(bad)
		if _, err := r.mypb(); err == nil {
			t.Errorf("mypb %x accepted", bad)
		}
	}
	r, _ = decodeReply(append([]byte("int1"), 1, 2, 3))
	if _, err := r.int1("x"); err == nil {
		t.Error("short int1 accepted")
	}
	r, _ = decodeReply([]byte("okay"))
	if _, err := r.ascii("xpub"); err == nil || !strings.Contains(err.Error(), `unexpected reply "okay" to xpub`) {
		t.Errorf("wrong-shape reply: %v", err)
	}
	r, _ = decodeReply(append([]byte("strx"), make([]byte, 35)...))
	if _, _, err := r.strx("stok"); err == nil {
		t.Error("short strx accepted")
	}
}

// FuzzDecodeReply decodes arbitrary replies as every shape: no panic,
// failure texts are printable (device text is escaped before anyone prints
// it), and what a shape accepts is consistent with the bytes. Seeds:
// testdata/fuzz/FuzzDecodeReply (every reply shape, and the decrypted
// replies of a recorded emulator session).
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{"okay", "mypb", "strx", "int1\x01\x00\x00\x00", "asci\x00", "err_x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := decodeReply(msg)
		if err != nil {
			if strings.ContainsFunc(err.Error(), func(c rune) bool { return c < 0x20 || c > 0x7e }) {
				t.Fatalf("error text %q carries unescaped device bytes", err)
			}
			return
		}
		if !bytes.Equal(append([]byte(r.code), r.body...), msg) {
			t.Fatalf("code %q body %x from %x", r.code, r.body, msg)
		}
		if s, err := r.mypb(); err == nil {
			if len(msg) != 4+72+len(s.xpub) {
				t.Fatalf("mypb xpub %q from a %d-byte reply", s.xpub, len(msg))
			}
			_ = checkMasterXpub(s)
		}
		if n, _, err := r.strx("f"); err == nil && len(r.body) != 36 {
			t.Fatalf("strx %d from %d bytes", n, len(r.body))
		}
		if _, err := r.int1("f"); err == nil && len(r.body) != 4 {
			t.Fatalf("int1 from %d bytes", len(r.body))
		}
		if s, err := r.ascii("f"); err == nil && strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 && c != '\n' || c > 0x7e }) {
			t.Fatalf("asci reply %q accepted with control bytes", s)
		}
		_, _ = r.binary("f")
	})
}
