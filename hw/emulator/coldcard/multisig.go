package coldcard

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// maxSigners is the firmware's MAX_SIGNERS for multisig wallets.
const maxSigners = 15

// wallet is one enrolled multisig wallet (the firmware's MultisigWallet).
type wallet struct {
	name    string
	m, n    int
	addrFmt uint32
	keys    []cosigner
	derived *derivCache // cosigner keys below their xpubs
}

// cosigner is one leg: the master fingerprint as the firmware's xfp number
// (little-endian u32 of the fingerprint bytes), the path to the xpub, and
// the xpub.
type cosigner struct {
	xfp   uint32
	deriv []uint32
	xpub  *hdkeychain.ExtendedKey
}

func hash160(b []byte) []byte { return btcutil.Hash160(b) }

func xfpString(x uint32) string {
	return strings.ToUpper(hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, x)))
}

var policyRE = regexp.MustCompile(`(\d+)\D*(\d+)`)

// parseSetupFile reads a multisig setup file the way the firmware's
// MultisigWallet.from_file / from_simple_text do, with the same checks.
func (e *Emulator) parseSetupFile(text string) (*wallet, error) {
	w := &wallet{m: -1, n: -1, addrFmt: afP2SH, derived: &derivCache{}}
	myXFP := binary.LittleEndian.Uint32(e.xfp[:])
	var deriv []uint32
	haveDeriv := false
	mine := 0
	for _, ln := range strings.Split(text, "\n") {
		if i := strings.IndexByte(ln, '#'); i == 0 {
			continue
		} else if i > 0 && !(i+1 < len(ln) && ln[i+1] >= '0' && ln[i+1] <= '9') {
			ln = ln[:i]
		}
		ln = strings.TrimSpace(ln)
		label, value, ok := strings.Cut(ln, ":")
		if !ok {
			if !strings.Contains(ln, "pub") {
				continue
			}
			label, value = "00000000", ln
		}
		label, value = strings.ToLower(label), strings.TrimSpace(value)
		switch label {
		case "name":
			w.name = value
		case "policy":
			mat := policyRE.FindStringSubmatch(value)
			if mat == nil {
				return nil, usbError("bad policy line")
			}
			w.m, _ = strconv.Atoi(mat[1])
			w.n, _ = strconv.Atoi(mat[2])
			if !(1 <= w.m && w.m <= w.n && w.n <= maxSigners) {
				return nil, usbError("bad policy line")
			}
		case "derivation":
			p, err := parsePath(value)
			if err != nil || value == "" {
				return nil, usbError("bad derivation line")
			}
			deriv, haveDeriv = p, true
		case "format":
			switch strings.ToLower(value) {
			case "p2sh":
				w.addrFmt = afP2SH
			case "p2wsh":
				w.addrFmt = afP2WSH
			case "p2sh-p2wsh", "p2wsh-p2sh":
				w.addrFmt = afP2WSHP2SH
			default:
				return nil, usbError("bad format line")
			}
		default:
			if len(label) != 8 {
				continue
			}
			b, err := hex.DecodeString(label)
			if err != nil {
				continue
			}
			c, err := e.checkXpub(binary.LittleEndian.Uint32(b), value, deriv, haveDeriv)
			if err != nil {
				return nil, err
			}
			if c.xfp == myXFP {
				mine++
			}
			w.keys = append(w.keys, c)
		}
	}
	if len(w.keys) == 0 {
		return nil, usbError("need xpubs")
	}
	if w.m == -1 {
		w.m, w.n = len(w.keys), len(w.keys)
	}
	if w.name == "" {
		w.name = fmt.Sprintf("%d-of-%d", w.m, w.n)
	}
	if len(w.name) < 1 || len(w.name) > 20 || strings.ContainsFunc(w.name, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return nil, usbError("name must be ascii, 1..20 long")
	}
	if w.n != len(w.keys) {
		return nil, usbError(fmt.Sprintf("wrong # of xpubs, expect %d", w.n))
	}
	if mine == 0 {
		return nil, usbError("my key not included")
	}
	if mine > 1 {
		return nil, usbError("my key included more than once")
	}
	seen := map[uint32]bool{}
	pubs := map[string]bool{}
	for _, c := range w.keys {
		if seen[c.xfp] {
			return nil, usbError("dup XFP")
		}
		seen[c.xfp] = true
		pk, _ := c.xpub.ECPubKey()
		s := string(pk.SerializeCompressed())
		if pubs[s] {
			return nil, usbError("same key under two XFPs")
		}
		pubs[s] = true
		// No leg other than ours may be a key this device holds.
		if c.xfp != myXFP {
			if mk, err := e.pubAt(c.deriv); err == nil && bytes.Equal(mk, []byte(s)) {
				return nil, usbError(fmt.Sprintf("[%s] is our key", xfpString(c.xfp)))
			}
		}
	}
	return w, nil
}

// checkXpub is the firmware's MultisigWallet.check_xpub: parse, no private
// keys, right chain, a fingerprint and a derivation as deep as the key, and
// our own key where our fingerprint is claimed.
func (e *Emulator) checkXpub(xfp uint32, s string, deriv []uint32, haveDeriv bool) (cosigner, error) {
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return cosigner{}, usbError("unable to parse xpub")
	}
	if k.IsPrivate() {
		return cosigner{}, usbError("no privkeys plz")
	}
	if !k.IsForNet(e.net) {
		return cosigner{}, usbError("wrong chain")
	}
	if k.Depth() == 1 {
		// ParentFingerprint reads the fingerprint bytes big-endian; the
		// firmware's xfp number reads them little-endian.
		parentXFP := binary.LittleEndian.Uint32(binary.BigEndian.AppendUint32(nil, k.ParentFingerprint()))
		if xfp == 0 {
			xfp = parentXFP
		} else if xfp != parentXFP {
			return cosigner{}, usbError("xfp depth=1 wrong")
		}
		if !haveDeriv {
			deriv, haveDeriv = []uint32{k.ChildIndex()}, true
		}
	}
	if xfp == 0 {
		return cosigner{}, usbError("need fingerprint")
	}
	if !haveDeriv {
		return cosigner{}, usbError("empty deriv")
	}
	if len(deriv) != int(k.Depth()) {
		return cosigner{}, usbError(fmt.Sprintf("deriv %d != %d xpub depth (xfp=%s)", len(deriv), k.Depth(), xfpString(xfp)))
	}
	if xfp == binary.LittleEndian.Uint32(e.xfp[:]) {
		mine, err := e.pubAt(deriv)
		pk, _ := k.ECPubKey()
		if err != nil || !bytes.Equal(mine, pk.SerializeCompressed()) {
			return cosigner{}, usbError(fmt.Sprintf("[%s/%s] wrong pubkey", xfpString(xfp), pathString(deriv)))
		}
	}
	return cosigner{xfp: xfp, deriv: append([]uint32(nil), deriv...), xpub: k}, nil
}

func pathString(p []uint32) string {
	var parts []string
	for _, v := range p {
		if v >= hdkeychain.HardenedKeyStart {
			parts = append(parts, strconv.FormatUint(uint64(v-hdkeychain.HardenedKeyStart), 10)+"h")
		} else {
			parts = append(parts, strconv.FormatUint(uint64(v), 10))
		}
	}
	return strings.Join(parts, "/")
}

// pubAt derives this device's compressed public key at path.
func (e *Emulator) pubAt(path []uint32) ([]byte, error) {
	k, err := e.keyAt(path)
	if err != nil {
		return nil, err
	}
	pk, err := k.ECPubKey()
	if err != nil {
		return nil, err
	}
	return pk.SerializeCompressed(), nil
}

func (e *Emulator) keyAt(path []uint32) (*hdkeychain.ExtendedKey, error) {
	return e.keys.derive(e.master, "m", path)
}

// derivCache remembers the parent of a derivation's last step: the keys of
// one PSBT share all of their path but the address index, so each input
// then costs one derivation per key instead of the whole path.
type derivCache struct {
	mu sync.Mutex
	m  map[string]*hdkeychain.ExtendedKey
}

// maxCached bounds the cache; past it, derivations are just not remembered.
const maxCached = 4096

func (c *derivCache) derive(root *hdkeychain.ExtendedKey, rootID string, path []uint32) (*hdkeychain.ExtendedKey, error) {
	if len(path) == 0 {
		return root, nil
	}
	id := rootID + "/" + pathString(path[:len(path)-1])
	c.mu.Lock()
	parent, ok := c.m[id]
	c.mu.Unlock()
	if !ok {
		parent = root
		var err error
		for _, i := range path[:len(path)-1] {
			if parent, err = parent.Derive(i); err != nil {
				return nil, err
			}
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]*hdkeychain.ExtendedKey{}
		}
		if len(c.m) < maxCached {
			c.m[id] = parent
		}
		c.mu.Unlock()
	}
	return parent.Derive(path[len(path)-1])
}

// sameAs reports an exact duplicate: same shape and the same cosigner keys.
func (w *wallet) sameAs(o *wallet) bool {
	if w.m != o.m || w.n != o.n || w.addrFmt != o.addrFmt || len(w.keys) != len(o.keys) {
		return false
	}
	for i := range w.keys {
		a, b := w.keys[i], o.keys[i]
		if a.xfp != b.xfp || a.xpub.String() != b.xpub.String() || pathString(a.deriv) != pathString(b.deriv) {
			return false
		}
	}
	return true
}

// screen is what the device shows for an enrolment.
func (w *wallet) screen(dup bool) string {
	head := "Create new multisig wallet?"
	if dup {
		head = "Duplicate wallet."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nWallet Name:\n  %s\n\nPolicy: %d of %d\n\nAddresses:\n  %s\n", head, w.name, w.m, w.n, fmtName(w.addrFmt))
	for _, c := range w.keys {
		fmt.Fprintf(&b, "\n%s: m/%s\n%s\n", xfpString(c.xfp), pathString(c.deriv), c.xpub.String())
	}
	return b.String()
}

// quickCheck answers "msck": a wallet with this M, N and xor of
// fingerprints exists.
func (e *Emulator) quickCheck(m, n int, xor uint32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, w := range e.wallets {
		if w.m != m || w.n != n {
			continue
		}
		var x uint32
		for _, c := range w.keys {
			x ^= c.xfp
		}
		if x == xor {
			return true
		}
	}
	return false
}

// findMatch is the firmware's MultisigWallet.find_match: a wallet of this
// M and N (and address format, unless 0) whose fingerprints are exactly
// those of xfpPaths, each path starting with that cosigner's derivation.
func (e *Emulator) findMatch(m, n int, xfpPaths [][]uint32, addrFmt uint32) *wallet {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, w := range e.wallets {
		if w.m == m && w.n == n && (addrFmt == 0 || w.addrFmt == addrFmt) && w.matchingSubpaths(xfpPaths) {
			return w
		}
	}
	return nil
}

func (w *wallet) byXFP(x uint32) *cosigner {
	for i := range w.keys {
		if w.keys[i].xfp == x {
			return &w.keys[i]
		}
	}
	return nil
}

func (w *wallet) matchingSubpaths(xfpPaths [][]uint32) bool {
	if len(xfpPaths) != len(w.keys) {
		return false
	}
	for _, p := range xfpPaths {
		if len(p) == 0 {
			return false
		}
		c := w.byXFP(p[0])
		if c == nil || len(p)-1 < len(c.deriv) {
			return false
		}
		for i, v := range c.deriv {
			if p[1+i] != v {
				return false
			}
		}
	}
	return true
}

// multisigScript splits OP_m <33-byte key>... OP_n OP_CHECKMULTISIG, the
// only form the firmware accepts (disassemble_multisig).
func multisigScript(s []byte) (int, [][]byte, error) {
	if len(s) < 3 || s[len(s)-1] != txscript.OP_CHECKMULTISIG {
		return 0, nil, usbError("need CHECKMULTISIG")
	}
	m := int(s[0]) - (txscript.OP_1 - 1)
	n := int(s[len(s)-2]) - (txscript.OP_1 - 1)
	if !(1 <= m && m <= n && n <= maxSigners) {
		return 0, nil, usbError("M/N range")
	}
	if len(s) != 1+n*34+2 {
		return 0, nil, usbError("bad len")
	}
	keys := make([][]byte, n)
	for i := range keys {
		k := s[1+34*i:]
		if k[0] != 33 || (k[1] != 2 && k[1] != 3) {
			return 0, nil, usbError("Y val")
		}
		keys[i] = k[1:34]
	}
	return m, keys, nil
}

// validateScript is the firmware's MultisigWallet.validate_script: every
// key in the script must derive from this wallet's xpubs, each xpub used
// once, in BIP-67 order. The key paths come either from the PSBT
// (subpaths: pubkey -> xfp+path) or, for "p2sh", from the host in script
// order (xfpPaths).
func (w *wallet) validateScript(script []byte, subpaths map[string][]uint32, xfpPaths [][]uint32) error {
	m, keys, err := multisigScript(script)
	if err != nil {
		return err
	}
	if m != w.m || len(keys) != w.n {
		return usbError("wrong M/N in script")
	}
	used := map[int]bool{}
	for order, pk := range keys {
		var p []uint32
		if subpaths != nil {
			var ok bool
			if p, ok = subpaths[string(pk)]; !ok {
				return usbError("unexpected pubkey")
			}
		} else {
			p = xfpPaths[order]
		}
		if len(p) == 0 {
			return usbError(fmt.Sprintf("pk#%d wrong, unknown XFP", order+1))
		}
		idx := -1
		for i, c := range w.keys {
			if c.xfp == p[0] && !used[i] {
				idx = i
			}
		}
		if idx < 0 {
			return usbError(fmt.Sprintf("pk#%d wrong, unknown XFP", order+1))
		}
		c := w.keys[idx]
		path := p[1:]
		depth := int(c.xpub.Depth())
		if depth > len(path) {
			return usbError(fmt.Sprintf("pk#%d wrong, too shallow", order+1))
		}
		for _, step := range path[depth:] {
			if step >= hdkeychain.HardenedKeyStart {
				return usbError("hard deriv")
			}
		}
		k, err := w.derived.derive(c.xpub, xfpString(c.xfp), path[depth:])
		if err != nil {
			return usbError(err.Error())
		}
		got, _ := k.ECPubKey()
		if !bytes.Equal(got.SerializeCompressed(), pk) {
			return usbError(fmt.Sprintf("pk#%d wrong, tried: [%s/%s]", order+1, xfpString(c.xfp), pathString(path[depth:])))
		}
		used[idx] = true
		if order > 0 && bytes.Compare(pk, keys[order-1]) <= 0 {
			return usbError("BIP-67 violation")
		}
	}
	if len(used) != w.n {
		return usbError(fmt.Sprintf("not all keys used: %d of %d", len(used), w.n))
	}
	return nil
}

// scriptAddress renders the address of a multisig script in an address
// format.
func scriptAddress(af uint32, script []byte, net *chaincfg.Params) (string, error) {
	var a btcutil.Address
	var err error
	switch af {
	case afP2SH:
		a, err = btcutil.NewAddressScriptHash(script, net)
	case afP2WSH:
		h := sha256.Sum256(script)
		a, err = btcutil.NewAddressWitnessScriptHash(h[:], net)
	case afP2WSHP2SH:
		h := sha256.Sum256(script)
		a, err = btcutil.NewAddressScriptHash(append([]byte{0, 32}, h[:]...), net)
	default:
		return "", fmt.Errorf("address format 0x%x", af)
	}
	if err != nil {
		return "", err
	}
	return a.EncodeAddress(), nil
}

// scriptPubKey is the output script of a multisig script in an address
// format.
func scriptPubKey(af uint32, script []byte) []byte {
	h := sha256.Sum256(script)
	switch af {
	case afP2WSH:
		return append([]byte{0, 32}, h[:]...)
	case afP2WSHP2SH:
		script = append([]byte{0, 32}, h[:]...)
	}
	out := append([]byte{txscript.OP_HASH160, 20}, hash160(script)...)
	return append(out, txscript.OP_EQUAL)
}
