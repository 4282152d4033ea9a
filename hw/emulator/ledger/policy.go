package ledger

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/wire"
)

// Policy limits (app-bitcoin-new src/constants.h, src/common/wallet.h).
const (
	maxNameLen     = 64
	maxKeys        = 15
	maxTemplateLen = 512
	maxKeyInfoLen  = 200
)

// Error codes (src/error_codes.h).
const (
	ecRegisterBadName       = 0x0000
	ecRegisterNotSane       = 0x0001
	ecRegisterNoInternalKey = 0x0002
	ecSignMissingHMAC       = 0x0000
	ecSignNoInternalKey     = 0x0002
	ecSignMissingUtxo       = 0x0003
	ecSignBadNonWitnessUtxo = 0x0004
	ecSignUtxoMismatch      = 0x0005
	ecSignLegacyUtxo        = 0x0006
	ecSignSegwitUtxo        = 0x0007
	ecSignBadWitnessScript  = 0x000a
	ecSignBadRedeemScript   = 0x000b
	ecSignSighashSingle     = 0x0008 // EC_SIGN_PSBT_UNALLOWED_SIGHASH_SINGLE
)

// scriptKind is the policy's output type.
type scriptKind int

const (
	kindSh scriptKind = iota + 1
	kindShWsh
	kindWsh
	kindTr
)

// policyHeader is a serialized wallet policy (doc/wallet.md):
// 0x02 | len(name) | name | varint(len(template)) | sha256(template) |
// varint(n_keys) | keys root.
type policyHeader struct {
	name     string
	tmplLen  uint64
	tmplHash [32]byte
	nKeys    uint64
	keysRoot [32]byte
}

func parsePolicyHeader(b []byte) (policyHeader, error) {
	r := bytes.NewReader(b)
	var h policyHeader
	v, err := r.ReadByte()
	if err != nil {
		return h, fail(swIncorrectData, "empty policy")
	}
	if v != 0x02 {
		return h, fail(swNotSupported, "wallet policy version %d (the emulator speaks version 2)", v)
	}
	n, err := r.ReadByte()
	if err != nil || int(n) > r.Len() {
		return h, fail(swIncorrectData, "truncated policy")
	}
	name := make([]byte, n)
	_, _ = io.ReadFull(r, name)
	h.name = string(name)
	if h.tmplLen, err = wire.ReadVarInt(r, 0); err != nil {
		return h, fail(swIncorrectData, "truncated policy")
	}
	if _, err := io.ReadFull(r, h.tmplHash[:]); err != nil {
		return h, fail(swIncorrectData, "truncated policy")
	}
	if h.nKeys, err = wire.ReadVarInt(r, 0); err != nil {
		return h, fail(swIncorrectData, "truncated policy")
	}
	if _, err := io.ReadFull(r, h.keysRoot[:]); err != nil || r.Len() != 0 {
		return h, fail(swIncorrectData, "malformed policy")
	}
	return h, nil
}

// checkName applies the app's wallet name rules.
func checkName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] == ' ' || name[len(name)-1] == ' ' {
		return false
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// keyInfo is one entry of the keys vector: [fpr/path]xpub.
type keyInfo struct {
	hasOrigin bool
	fpr       [4]byte
	path      []uint32
	xpub      *hdkeychain.ExtendedKey
	internal  bool // the emulator's own key
	// unspendable marks BIP-341's NUMS point H as the key, which the app
	// (2.2.2 and later) shows as a dummy key.
	unspendable bool
}

// parseKeyInfo decodes [fpr/path]xpub (hardened steps as ' or h).
func (e *Emulator) parseKeyInfo(s string) (keyInfo, error) {
	var k keyInfo
	rest := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return k, fail(swIncorrectData, "key %q: unterminated origin", s)
		}
		parts := strings.Split(s[1:end], "/")
		fp, err := hex.DecodeString(parts[0])
		if err != nil || len(fp) != 4 {
			return k, fail(swIncorrectData, "key %q: bad fingerprint", s)
		}
		k.hasOrigin = true
		copy(k.fpr[:], fp)
		for _, p := range parts[1:] {
			h := strings.HasSuffix(p, "'") || strings.HasSuffix(p, "h")
			if h {
				p = p[:len(p)-1]
			}
			v, err := strconv.ParseUint(p, 10, 31)
			if err != nil || p != strconv.FormatUint(v, 10) {
				return k, fail(swIncorrectData, "key %q: bad path step", s)
			}
			if h {
				v += hdkeychain.HardenedKeyStart
			}
			k.path = append(k.path, uint32(v))
		}
		if len(k.path) > 8 {
			return k, fail(swIncorrectData, "key %q: path too long", s)
		}
		rest = s[end+1:]
	}
	x, err := hdkeychain.NewKeyFromString(rest)
	if err != nil || x.IsPrivate() {
		return k, fail(swIncorrectData, "key %q: not an extended public key", s)
	}
	if !x.IsForNet(e.params) {
		return k, fail(swIncorrectData, "key %q: not a key of the app's network", s)
	}
	k.xpub = x
	if pk, err := x.ECPubKey(); err == nil && bytes.Equal(pk.SerializeCompressed(), numsKey) {
		k.unspendable = true
		return k, nil
	}
	if k.hasOrigin && k.fpr == e.xfp {
		own, err := e.xpubAt(k.path)
		if err == nil && own.String() == x.String() {
			k.internal = true
		}
	}
	return k, nil
}

// xpubAt derives the emulator's own extended public key at path.
func (e *Emulator) xpubAt(path []uint32) (*hdkeychain.ExtendedKey, error) {
	k, err := e.privAt(path)
	if err != nil {
		return nil, err
	}
	return k.Neuter()
}

// walletHMAC is the registration proof: HMAC-SHA256 over the wallet id.
func (e *Emulator) walletHMAC(id [32]byte) []byte {
	m := hmac.New(sha256.New, e.hmacKey)
	m.Write(id[:])
	return m.Sum(nil)
}

// readWallet fetches and checks the policy whose id the host sent: its
// serialization by GET_PREIMAGE, then the template and every key.
func (s *session) readWallet(id [32]byte) (*wallet, error) {
	ser, err := s.getPreimage(id, 2+maxNameLen+9+32+9+32)
	if err != nil {
		return nil, err
	}
	h, err := parsePolicyHeader(ser)
	if err != nil {
		return nil, err
	}
	return s.loadWallet(id, h)
}

// loadWallet reads the template and keys of a policy header.
func (s *session) loadWallet(id [32]byte, h policyHeader) (*wallet, error) {
	if h.tmplLen == 0 || h.tmplLen > maxTemplateLen {
		return nil, fail(swIncorrectData, "template of %d bytes", h.tmplLen)
	}
	if h.nKeys == 0 || h.nKeys > uint64(s.e.feat.maxKeys) {
		// MAX_N_KEYS_IN_WALLET_POLICY: SW_NOT_SUPPORTED in the app.
		return nil, fail(swNotSupported, "%d keys (app %s takes at most %d)", h.nKeys, s.e.version, s.e.feat.maxKeys)
	}
	tmpl, err := s.getPreimage(h.tmplHash, int(h.tmplLen))
	if err != nil {
		return nil, err
	}
	if uint64(len(tmpl)) != h.tmplLen {
		return nil, fail(swIncorrectData, "template length")
	}
	w := &wallet{id: id, name: h.name, template: string(tmpl), branches: map[[2]uint32]*hdkeychain.ExtendedKey{}, aggregates: map[int]*hdkeychain.ExtendedKey{}}
	w.pol, err = parseTemplate(w.template, int(h.nKeys), s.e.feat)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < h.nKeys; i++ {
		raw, err := s.getLeafElement(h.keysRoot, h.nKeys, i, maxKeyInfoLen)
		if err != nil {
			return nil, err
		}
		k, err := s.e.parseKeyInfo(string(raw))
		if err != nil {
			return nil, err
		}
		w.keys = append(w.keys, k)
	}
	return w, nil
}

// hasInternalKey reports whether one of the keys is the emulator's.
func (w *wallet) hasInternalKey() bool {
	for _, k := range w.keys {
		if k.internal {
			return true
		}
	}
	return false
}

// maxScriptElementSize is the consensus limit on a pushed element, and so
// on a P2SH redeem script (Bitcoin Core MAX_SCRIPT_ELEMENT_SIZE).
const maxScriptElementSize = 520

// Opcodes of the scripts the emulator builds.
const (
	op0             = 0x00
	op1             = 0x51 // OP_1; OP_n is op1 - 1 + n for n in 1..16
	opHash160       = 0xa9
	opEqual         = 0x87
	opCheckMultisig = 0xae
)

// p2wshScript is the version 0 witness program of a script hash (BIP-141):
// OP_0 <32 bytes>. It is also sh(wsh())'s redeem script.
func p2wshScript(h [32]byte) []byte {
	return append([]byte{op0, 32}, h[:]...)
}

// p2shScript is BIP-16's OP_HASH160 <hash160(redeem script)> OP_EQUAL.
func p2shScript(redeem []byte) []byte {
	return append(append([]byte{opHash160, 20}, btcutil.Hash160(redeem)...), opEqual)
}

func (s *session) getExtendedPubkey() ([]byte, error) {
	d := s.data
	if len(d) < 2 {
		return nil, fail(swWrongDataLength, "short")
	}
	display, n := d[0], int(d[1])
	if display > 1 || n > 8 {
		return nil, fail(swIncorrectData, "display %d, %d steps", display, n)
	}
	if len(d) != 2+4*n {
		return nil, fail(swWrongDataLength, "path length")
	}
	path := make([]uint32, n)
	for i := range path {
		path[i] = binary.BigEndian.Uint32(d[2+4*i:])
	}
	if !s.e.standardPath(path) && display == 0 {
		return nil, fail(swNotSupported, "non-standard path needs display")
	}
	k, err := s.e.xpubAt(path)
	if err != nil {
		return nil, fail(swBadState, "derive: %v", err)
	}
	x := k.String()
	if display == 1 && !s.approve(Request{Kind: "xpub", Text: fmt.Sprintf("Public key at %s: %s", formatPath(path), x)}) {
		return nil, fail(swDeny, "refused")
	}
	return []byte(x), nil
}

// standardPath is the app's is_path_safe_for_pubkey_export.
func (e *Emulator) standardPath(path []uint32) bool {
	const h = hdkeychain.HardenedKeyStart
	coin := uint32(1)
	if e.appName == "Bitcoin" {
		coin = 0
	}
	if len(path) < 3 {
		return len(path) == 2 && path[0] == 4541509+h && path[1] == 1112098098+h
	}
	hard := 0
	switch path[0] &^ h {
	case 44, 45, 49, 84, 86:
		hard = 3
	case 48:
		hard = 4
	default:
		return false
	}
	if len(path) < hard {
		return false
	}
	for i, st := range path {
		if (i < hard) != (st >= h) {
			return false
		}
	}
	if path[1]&^h != coin || path[2]&^h > 100 {
		return false
	}
	return hard != 4 || path[3]&^h == 1 || path[3]&^h == 2
}

func formatPath(path []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, s := range path {
		if s >= hdkeychain.HardenedKeyStart {
			fmt.Fprintf(&b, "/%d'", s-hdkeychain.HardenedKeyStart)
		} else {
			fmt.Fprintf(&b, "/%d", s)
		}
	}
	return b.String()
}

func (s *session) registerWallet() ([]byte, error) {
	r := bytes.NewReader(s.data)
	n, err := wire.ReadVarInt(r, 0)
	if err != nil || n != uint64(r.Len()) {
		return nil, fail(swWrongDataLength, "policy length")
	}
	ser := s.data[len(s.data)-int(n):]
	h, err := parsePolicyHeader(ser)
	if err != nil {
		return nil, err
	}
	if !checkName(h.name) {
		return nil, failCode(swIncorrectData, ecRegisterBadName, "name %q", h.name)
	}
	id := sha256.Sum256(ser)
	w, err := s.loadWallet(id, h)
	if err != nil {
		return nil, err
	}
	if err := w.checkSane(); err != nil {
		return nil, err
	}
	if !w.hasInternalKey() {
		return nil, failCode(swIncorrectData, ecRegisterNoInternalKey, "no key of this device")
	}
	var text strings.Builder
	fmt.Fprintf(&text, "Register wallet %q\nPolicy: %s\n", w.name, w.template)
	for i, k := range w.keys {
		who := "cosigner"
		switch {
		case k.internal:
			who = "this device"
		case k.unspendable && s.e.feat.dummyKey:
			who = "dummy, unspendable"
		}
		fmt.Fprintf(&text, "Key @%d (%s): %s\n", i, who, w.keyString(i))
	}
	if !s.approve(Request{Kind: "register", Text: text.String()}) {
		return nil, fail(swDeny, "refused")
	}
	return append(id[:], s.e.walletHMAC(id)...), nil
}

// keyString prints key i as in the policy.
func (w *wallet) keyString(i int) string {
	k := w.keys[i]
	if !k.hasOrigin {
		return k.xpub.String()
	}
	return "[" + hex.EncodeToString(k.fpr[:]) + strings.TrimPrefix(formatPath(k.path), "m") + "]" + k.xpub.String()
}

// checkHMAC verifies a registered policy's HMAC. All zeros would be a
// default single-key wallet, which the emulator does not offer.
func (s *session) checkHMAC(id [32]byte, mac []byte, missingCode *uint16) error {
	if bytes.Equal(mac, make([]byte, 32)) {
		if missingCode != nil {
			return failCode(swIncorrectData, *missingCode, "no HMAC")
		}
		return fail(swIncorrectData, "no HMAC")
	}
	if !hmac.Equal(mac, s.e.walletHMAC(id)) {
		return fail(swSignatureFail, "wrong HMAC")
	}
	return nil
}

func (s *session) getWalletAddress() ([]byte, error) {
	d := s.data
	if len(d) != 70 {
		return nil, fail(swWrongDataLength, "%d bytes", len(d))
	}
	display := d[0]
	var id [32]byte
	copy(id[:], d[1:33])
	mac := d[33:65]
	change, index := uint32(d[65]), binary.BigEndian.Uint32(d[66:])
	if display > 1 || change > 1 || index >= hdkeychain.HardenedKeyStart {
		return nil, fail(swIncorrectData, "display %d change %d index %d", display, change, index)
	}
	if err := s.checkHMAC(id, mac, nil); err != nil {
		return nil, err
	}
	w, err := s.readWallet(id)
	if err != nil {
		return nil, err
	}
	der, err := w.derive(s.e, change, index)
	if err != nil {
		return nil, err
	}
	addr := der.address.EncodeAddress()
	if display == 1 && !s.approve(Request{Kind: "address", Text: fmt.Sprintf("Wallet %q %s address %d:\n%s", w.name, [2]string{"receive", "change"}[change], index, addr)}) {
		return nil, fail(swDeny, "refused")
	}
	return []byte(addr), nil
}
