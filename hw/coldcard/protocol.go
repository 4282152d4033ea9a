package coldcard

// Message layer: one builder per request, one decoder for every reply.
//
// A request is a 4-character command code followed by its arguments, packed
// little-endian (ckcc-protocol's CCProtocolPacker). A reply starts with a
// 4-character code that names the shape of what follows, not the command it
// answers (CCProtocolUnpacker):
//
//	okay             done, nothing to return (or: still waiting, for polls)
//	biny  <bytes>    binary data
//	int1  <u32>      one integer
//	asci  <text>     ASCII text (xpub, address, version lines)
//	mypb  <pub:64> <xfp:u32> <xpub_len:u32> <xpub>   reply to ncry
//	strx  <len:u32> <sha256:32>                      a result file is ready
//	refu             the user pressed X
//	busy             the device is handling another request
//	err_  <text>     the command failed; text says why
//	fram  <text>     the framing or encryption state is broken

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/countersign/countersign/descriptor"
)

// Limits from ckcc/constants.py.
const (
	maxBlockLen = 2048                    // largest upload/download block
	maxMsgLen   = 4 + 4 + 4 + maxBlockLen // largest request or reply, framing excluded
	ncryV1      = 1                       // USB_NCRY_V1: encryption that a later session may set up again
	maxPathLen  = 12                      // MAX_PATH_DEPTH
	resultFile  = 1                       // dwld file number of a signing result
)

// Address formats (AF_* in ckcc/constants.py): bit flags for script, segwit,
// bech32 and P2SH wrapping.
const (
	afP2SH      uint32 = 0x08 // AFC_SCRIPT
	afP2WSH     uint32 = 0x0e // AFC_SCRIPT | AFC_SEGWIT | AFC_BECH32
	afP2WSHP2SH uint32 = 0x1a // AFC_WRAPPED | AFC_SCRIPT | AFC_SEGWIT
)

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// reqEncryptStart is "ncry" <version:u32> <host pubkey x||y:64>.
func reqEncryptStart(hostPub [64]byte) []byte {
	b := append([]byte("ncry"), le32(ncryV1)...)
	return append(b, hostPub[:]...)
}

// reqXpub is "xpub" <path text>, e.g. "m/48'/1'/0'/2'".
// reqXpub asks for the xpub at path, written the way ckcc does:
// m/48'/1'/0'/2'.
func reqXpub(path descriptor.Path) []byte { return append([]byte("xpub"), path.Apostrophe()...) }

// reqUpload is "upld" <offset:u32> <total:u32> <data>; offsets must be
// multiples of 256 and blocks at most maxBlockLen.
func reqUpload(offset, total uint32, data []byte) []byte {
	b := append([]byte("upld"), le32(offset)...)
	b = append(b, le32(total)...)
	return append(b, data...)
}

// reqSHA256 asks for the running SHA-256 of what was uploaded.
func reqSHA256() []byte { return []byte("sha2") }

// reqDownload is "dwld" <offset:u32> <length:u32> <file:u32>.
func reqDownload(offset, length, file uint32) []byte {
	b := append([]byte("dwld"), le32(offset)...)
	b = append(b, le32(length)...)
	return append(b, le32(file)...)
}

// reqSignTxn is "stxn" <length:u32> <flags:u32> <sha256:32>: sign the PSBT
// just uploaded. Flags 0: return the PSBT with signatures added, do not
// finalize.
func reqSignTxn(length uint32, sha [32]byte) []byte {
	b := append([]byte("stxn"), le32(length)...)
	b = append(b, le32(0)...)
	return append(b, sha[:]...)
}

// reqSignedTxn polls for the outcome of stxn.
func reqSignedTxn() []byte { return []byte("stok") }

// reqEnroll is "enrl" <length:u32> <sha256:32>: offer the uploaded multisig
// setup file to the user.
func reqEnroll(length uint32, sha [32]byte) []byte {
	b := append([]byte("enrl"), le32(length)...)
	return append(b, sha[:]...)
}

// reqMultisigCheck is "msck" <M:u32> <N:u32> <xor of the cosigners' xfps:u32>:
// is a wallet with that shape enrolled?
func reqMultisigCheck(m, n int, xfpXor uint32) []byte {
	b := append([]byte("msck"), le32(uint32(m))...)
	b = append(b, le32(uint32(n))...)
	return append(b, le32(xfpXor)...)
}

// reqShowP2SH is "p2sh" <addr_fmt:u32> <M:u8> <N:u8> <script_len:u16>
// <script> then, for each key in script order, <count:u8> <xfp:u32>
// <path:u32...>. The script is the witness script for P2WSH and P2SH-P2WSH,
// the redeem script for P2SH. The device re-derives every key from its
// enrolled wallet before it shows the address.
func reqShowP2SH(addrFmt uint32, m int, xfpPaths [][]uint32, script []byte) ([]byte, error) {
	if m < 1 || m > len(xfpPaths) || len(xfpPaths) > 20 {
		return nil, fmt.Errorf("%d-of-%d is outside the device's 1..20 range", m, len(xfpPaths))
	}
	if len(script) < 30 || len(script) > 520 {
		return nil, fmt.Errorf("script of %d bytes is outside 30..520", len(script))
	}
	b := append([]byte("p2sh"), le32(addrFmt)...)
	b = append(b, byte(m), byte(len(xfpPaths)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(script)))
	b = append(b, script...)
	for _, p := range xfpPaths {
		if len(p) < 1 || len(p) > 16 {
			return nil, fmt.Errorf("key path of %d elements (device takes 1..16 with the fingerprint)", len(p))
		}
		b = append(b, byte(len(p)))
		for _, v := range p {
			b = append(b, le32(v)...)
		}
	}
	return b, nil
}

// reqVersion asks for the firmware version lines.
func reqVersion() []byte { return []byte("vers") }

// reqBlockchain asks which chain the device is set to: BTC, XTN or XRT.
func reqBlockchain() []byte { return []byte("blkc") }

// reqCheckMiTM asks the device to sign the session key with its master key.
func reqCheckMiTM() []byte { return []byte("mitm") }

const hardened = 0x80000000

// reply is one decoded reply.
type reply struct {
	code string // "okay", "biny", ...
	body []byte // what follows the code
}

// replyError is a reply that reports a failure: err_, refu, busy or fram.
type replyError struct {
	code string
	text string
}

func (e *replyError) Error() string {
	switch e.code {
	case "refu":
		return "refused on the device"
	case "busy":
		return "the device is busy with another request"
	case "fram":
		return "framing error reported by the device: " + e.text
	}
	return e.text
}

// decodeReply splits a reply into code and body and turns failure replies
// into a *replyError.
func decodeReply(msg []byte) (reply, error) {
	if len(msg) < 4 {
		return reply{}, fmt.Errorf("reply of %d bytes is too short for a code", len(msg))
	}
	r := reply{code: string(msg[:4]), body: msg[4:]}
	switch r.code {
	case "okay", "biny", "asci", "int1", "int2", "int3", "mypb", "strx", "smrx":
		return r, nil
	case "err_", "fram":
		return r, &replyError{code: r.code, text: printable(r.body)}
	case "refu", "busy":
		return r, &replyError{code: r.code}
	}
	return r, fmt.Errorf("unknown reply code %q", printable(msg[:4]))
}

// printable keeps device text safe to print in a terminal.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, string(b))
}

// expect checks that r has the wanted code; what names the request for the
// error message.
func (r reply) expect(what, code string) error {
	if r.code != code {
		return fmt.Errorf("unexpected reply %q to %s (want %q)", r.code, what, code)
	}
	return nil
}

// int1 decodes an "int1" reply.
func (r reply) int1(what string) (uint32, error) {
	if err := r.expect(what, "int1"); err != nil {
		return 0, err
	}
	if len(r.body) != 4 {
		return 0, fmt.Errorf("int1 reply to %s has %d bytes", what, len(r.body))
	}
	return binary.LittleEndian.Uint32(r.body), nil
}

// ascii decodes an "asci" reply.
func (r reply) ascii(what string) (string, error) {
	if err := r.expect(what, "asci"); err != nil {
		return "", err
	}
	for _, c := range r.body {
		if c < 0x20 && c != '\n' || c > 0x7e {
			return "", fmt.Errorf("asci reply to %s holds a non-ASCII byte 0x%02x", what, c)
		}
	}
	return string(r.body), nil
}

// binary decodes a "biny" reply.
func (r reply) binary(what string) ([]byte, error) {
	if err := r.expect(what, "biny"); err != nil {
		return nil, err
	}
	return r.body, nil
}

// sessionReply is the decoded "mypb" reply to ncry.
type sessionReply struct {
	devicePub [64]byte // the device's one-time pubkey, x||y
	xfp       [4]byte  // master fingerprint; zero on a device without a seed
	xpub      string   // master xpub; empty on a device without a seed
}

// mypb decodes the reply to ncry. The fingerprint travels as a little-endian
// u32 of the fingerprint read as a number, which puts the 4 fingerprint bytes
// on the wire in their usual order.
func (r reply) mypb() (sessionReply, error) {
	var s sessionReply
	if err := r.expect("ncry", "mypb"); err != nil {
		return s, err
	}
	if len(r.body) < 72 {
		return s, fmt.Errorf("mypb reply of %d bytes is too short", len(r.body))
	}
	copy(s.devicePub[:], r.body[:64])
	copy(s.xfp[:], r.body[64:68])
	n := binary.LittleEndian.Uint32(r.body[68:72])
	if uint64(n) != uint64(len(r.body)-72) {
		return s, fmt.Errorf("mypb reply says the xpub has %d bytes but carries %d", n, len(r.body)-72)
	}
	s.xpub = string(r.body[72:])
	if bytes.ContainsFunc(r.body[72:], func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return s, fmt.Errorf("mypb reply holds a malformed xpub")
	}
	return s, nil
}

// strx decodes a "strx" reply: the length and SHA-256 of a result file.
func (r reply) strx(what string) (uint32, [32]byte, error) {
	var sha [32]byte
	if err := r.expect(what, "strx"); err != nil {
		return 0, sha, err
	}
	if len(r.body) != 36 {
		return 0, sha, fmt.Errorf("strx reply to %s has %d bytes", what, len(r.body))
	}
	copy(sha[:], r.body[4:])
	return binary.LittleEndian.Uint32(r.body), sha, nil
}
