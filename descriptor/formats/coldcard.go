package formats

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// Coldcard's limits (shared/multisig.py in the Coldcard firmware).
const (
	coldcardMaxKeys = 15 // MAX_SIGNERS
	coldcardMaxName = 20 // names are 1..20 printable ASCII characters
)

// exportColdcard writes a multisig setup file laid out the way a Coldcard
// writes its own exports, so the file reads the same on the device.
func exportColdcard(w *Wallet, d *descriptor.Descriptor) ([]byte, error) {
	if err := coldcardCanExport(w.Name, d); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# Coldcard Multisig setup file (created by countersign)\n#\n")
	if w.Name != "" {
		fmt.Fprintf(&b, "Name: %s\n", w.Name)
	}
	fmt.Fprintf(&b, "Policy: %d of %d\n", d.Threshold, d.N())
	fmt.Fprintf(&b, "Format: %s\n", coldcardFormatName(d.Script))
	last := ""
	for _, k := range d.Keys {
		// A Derivation line applies to the keys after it, so it is
		// repeated only when a cosigner's path differs.
		if deriv := descriptor.Path(k.Origin.Path).Apostrophe(); deriv != last {
			fmt.Fprintf(&b, "\nDerivation: %s\n\n", deriv)
			last = deriv
		}
		fmt.Fprintf(&b, "%s: %s\n", strings.ToUpper(hex.EncodeToString(k.Origin.Fingerprint[:])), k.XPub.String())
	}
	return []byte(b.String()), nil
}

// coldcardCanExport refuses wallets a Coldcard would reject or, worse,
// register with other addresses.
func coldcardCanExport(name string, d *descriptor.Descriptor) error {
	const instead = `export it as "descriptor" or "bsms" instead`
	if d.IsMiniscript() {
		return invalidf("a Coldcard multisig file holds an m-of-n sortedmulti only and this wallet has time-locked miniscript paths: %s", instead)
	}
	if err := refuseTaproot("the Coldcard multisig setup file", d); err != nil {
		return err
	}
	if !d.Sorted {
		return invalidf("Coldcard multisig is always sortedmulti (BIP-67 key order) and this wallet is multi with a fixed key order, so a Coldcard would show different addresses: %s", instead)
	}
	if d.N() > coldcardMaxKeys {
		return invalidf("the wallet has %d keys and a Coldcard takes at most %d: %s", d.N(), coldcardMaxKeys, instead)
	}
	seen := make(map[[4]byte]int, d.N())
	for i, k := range d.Keys {
		if !isReceiveChangeKey(k) {
			return invalidf("key %d is %s; a Coldcard derives every cosigner's xpub at /0/* and /1/*, so each key must end in /<0;1>/*: %s", i+1, k.String(), instead)
		}
		if k.Origin == nil {
			return invalidf("key %d has no origin [fingerprint/path]; a Coldcard needs every cosigner's master fingerprint and derivation path: add the origin from the cosigner's xpub export, or %s", i+1, instead)
		}
		if err := checkColdcardOrigin(k.Origin.Fingerprint, k.Origin.Path, k.XPub); err != nil {
			return invalidf("key %d: %v", i+1, err)
		}
		if j, dup := seen[k.Origin.Fingerprint]; dup {
			return invalidf("keys %d and %d share the fingerprint %x; a Coldcard needs a distinct master key per cosigner: %s", j+1, i+1, k.Origin.Fingerprint, instead)
		}
		seen[k.Origin.Fingerprint] = i
	}
	if err := checkColdcardName(name); err != nil {
		return invalidf("%v: rename the wallet before exporting it to a Coldcard", err)
	}
	return nil
}

// checkColdcardOrigin applies Coldcard's checks of a cosigner's origin
// against its xpub: the path is as deep as the xpub, and a depth-1 xpub
// names its parent, which must be the master with that fingerprint.
func checkColdcardOrigin(fp [4]byte, path []uint32, x *hdkeychain.ExtendedKey) error {
	if fp == [4]byte{} {
		return fmt.Errorf("the fingerprint is 00000000, which Coldcard reads as missing: use the cosigner's real master fingerprint")
	}
	if depth := int(x.Depth()); len(path) != depth {
		return fmt.Errorf("the derivation %s has %d steps but the xpub is at depth %d, so the path does not lead to this key: check the cosigner's derivation",
			descriptor.Path(path).Apostrophe(), len(path), depth)
	}
	if x.Depth() == 1 {
		if parent := parentFingerprint(x); parent != fp {
			return fmt.Errorf("the fingerprint is %X but this depth-1 xpub was derived from master %X: the XFP belongs to another key", fp, parent)
		}
		if path[0] != x.ChildIndex() {
			return fmt.Errorf("the derivation is %s but this depth-1 xpub is child %s of its master: the path belongs to another key",
				descriptor.Path(path).Apostrophe(), descriptor.Path{x.ChildIndex()}.Apostrophe())
		}
	}
	return nil
}

// checkColdcardName mirrors the Coldcard's name rule (1 to 20 printable
// ASCII characters) and refuses names its file parser would change: spaces
// at either end are trimmed and a '#' not followed by a digit starts a
// comment.
func checkColdcardName(name string) error {
	if name == "" {
		return nil // the Coldcard then names it "M-of-N"
	}
	if len(name) > coldcardMaxName {
		return fmt.Errorf("the name %q is %d characters and a Coldcard allows at most %d", name, len(name), coldcardMaxName)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return fmt.Errorf("the name %q has characters outside printable ASCII, which a Coldcard does not allow", name)
		}
	}
	if line, _ := coldcardStrip("Name: " + name); line != "Name: "+name {
		return fmt.Errorf("the name %q would read back as %q from a Coldcard file (spaces at either end are dropped, '#' starts a comment)",
			name, strings.TrimPrefix(line, "Name: "))
	}
	return nil
}

func coldcardFormatName(t descriptor.ScriptType) string {
	switch t {
	case descriptor.ScriptWsh:
		return "P2WSH"
	case descriptor.ScriptShWsh:
		return "P2SH-P2WSH"
	}
	return "P2SH"
}

// coldcardScript reads a Format line; "P2WSH-P2SH" is the name older
// firmware used for nested segwit.
func coldcardScript(v string) (descriptor.ScriptType, error) {
	switch strings.ToLower(v) {
	case "p2sh":
		return descriptor.ScriptSh, nil
	case "p2wsh":
		return descriptor.ScriptWsh, nil
	case "p2sh-p2wsh", "p2wsh-p2sh":
		return descriptor.ScriptShWsh, nil
	}
	return 0, fmt.Errorf("format %q is not one of P2WSH, P2SH-P2WSH (or P2WSH-P2SH), P2SH", v)
}

// coldcardStrip removes a comment the way the Coldcard does: a line that
// starts with '#' is skipped (ok false), and otherwise the first '#' cuts
// the line unless a digit follows it. The rest is trimmed.
func coldcardStrip(ln string) (string, bool) {
	i := strings.IndexByte(ln, '#')
	if i == 0 {
		return "", false
	}
	if i > 0 && !(i+1 < len(ln) && '0' <= ln[i+1] && ln[i+1] <= '9') {
		ln = ln[:i]
	}
	return strings.TrimSpace(ln), true
}

// coldcardParsePolicy reads "M of N" the way the Coldcard does, taking the
// first two runs of digits whatever separates them ("2 of 3", "2/3", "2,3"),
// and applies its range.
func coldcardParsePolicy(v string) (int, int, error) {
	bad := fmt.Errorf("policy %q is not \"M of N\" with 1 <= M <= N <= %d", v, coldcardMaxKeys)
	first, second, ok := twoDigitRuns(v)
	if !ok {
		return 0, 0, bad
	}
	m, err1 := strconv.Atoi(first)
	n, err2 := strconv.Atoi(second)
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, bad
	case m > n:
		return 0, 0, fmt.Errorf("policy %q needs %d signatures from %d keys: the threshold cannot exceed the number of keys", v, m, n)
	case m < 1 || n > coldcardMaxKeys:
		return 0, 0, bad
	}
	return m, n, nil
}

// twoDigitRuns returns the first two runs of ASCII digits in s, as the
// Coldcard's pattern (\d+)\D*(\d+) finds them, except that a single run
// such as "23" is refused rather than split into 2 and 3.
func twoDigitRuns(s string) (string, string, bool) {
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	run := func(from int) (int, int) {
		for from < len(s) && !isDigit(s[from]) {
			from++
		}
		end := from
		for end < len(s) && isDigit(s[end]) {
			end++
		}
		return from, end
	}
	a, b := run(0)
	c, d := run(b)
	if a == b || c == d {
		return "", "", false
	}
	return s[a:b], s[c:d], true
}

// coldcardState collects a setup file as its lines are read.
type coldcardState struct {
	name     string
	m, n     int // -1 until a Policy line; then N of N is assumed
	script   descriptor.ScriptType
	deriv    []uint32
	hasDeriv bool
	keys     []descriptor.Key
	seen     map[[4]byte]int
}

// importColdcard reads a multisig setup file by the Coldcard's rules
// (shared/multisig.py): "label: value" lines, labels in any case, Format
// P2SH when absent, Policy N of N when absent, each Derivation line applying
// to the keys after it. Where the Coldcard would silently skip a line that
// holds a key, this refuses the file instead.
func importColdcard(text string, defaultNet *chaincfg.Params) (*Wallet, error) {
	st := &coldcardState{m: -1, n: -1, script: descriptor.ScriptSh, seen: map[[4]byte]int{}}
	for i, raw := range strings.Split(text, "\n") {
		if err := st.line(raw); err != nil {
			return nil, wrapInvalid(fmt.Sprintf("line %d", i+1), err)
		}
	}
	return st.wallet(defaultNet)
}

func (st *coldcardState) line(raw string) error {
	ln, ok := coldcardStrip(raw)
	if !ok || ln == "" {
		return nil
	}
	label, value, hasColon := strings.Cut(ln, ":")
	if !hasColon {
		if !strings.Contains(ln, "pub") {
			return nil
		}
		// A bare xpub: the Coldcard takes its fingerprint from a depth-1
		// key's parent.
		label, value = "00000000", ln
	}
	label, value = strings.ToLower(label), strings.TrimSpace(value)
	var err error
	switch label {
	case "name":
		st.name = value
	case "policy":
		st.m, st.n, err = coldcardParsePolicy(value)
	case "derivation":
		if value == "" {
			return fmt.Errorf("empty Derivation line: write the cosigners' path, e.g. m/48'/0'/0'/2'")
		}
		st.deriv, err = descriptor.ParsePath(value)
		st.hasDeriv = err == nil
	case "format":
		st.script, err = coldcardScript(value)
	default:
		fp, fpErr := parseFingerprint(label)
		switch {
		case fpErr == nil:
			err = st.key(fp, value)
		case strings.Contains(value, "pub"):
			err = fmt.Errorf("%q is not a fingerprint: an \"XFP: xpub\" line starts with the cosigner's 8-hex-digit master fingerprint", label)
		}
	}
	return err
}

// key reads one "XFP: xpub" line.
func (st *coldcardState) key(fp [4]byte, value string) error {
	bare, err := descriptor.ParseKey(value)
	if err != nil {
		return err
	}
	switch {
	case bare.Private:
		return fmt.Errorf("XFP %X is followed by a private key: setup files must hold only xpubs; delete this file and export the xpub again", fp)
	case bare.XPub == nil:
		return fmt.Errorf("XFP %X is followed by a plain public key; a Coldcard file lists extended public keys (xpub/tpub)", fp)
	case bare.Origin != nil || len(bare.Path) > 0 || bare.Wildcard:
		return fmt.Errorf("XFP %X is followed by a key expression; write only the xpub after \"XFP:\", with the path on a Derivation line", fp)
	}
	x := bare.XPub
	deriv, hasDeriv := st.deriv, st.hasDeriv
	if x.Depth() == 1 {
		// A depth-1 xpub names its parent and its child number, so the
		// Coldcard fills a missing fingerprint or path from them.
		if fp == [4]byte{} {
			fp = parentFingerprint(x)
		}
		if !hasDeriv {
			deriv, hasDeriv = []uint32{x.ChildIndex()}, true
		}
	}
	if fp == [4]byte{} {
		return fmt.Errorf("the key has no fingerprint: write it as \"XFP: xpub\" with the cosigner's 8-hex-digit master fingerprint")
	}
	if !hasDeriv {
		return fmt.Errorf("no Derivation line before key %X: add one with the cosigner's path (e.g. Derivation: m/48'/0'/0'/2')", fp)
	}
	if err := checkColdcardOrigin(fp, deriv, x); err != nil {
		return fmt.Errorf("key %X: %v", fp, err)
	}
	if _, dup := st.seen[fp]; dup {
		return fmt.Errorf("fingerprint %X appears twice; a Coldcard needs a distinct master key per cosigner", fp)
	}
	st.seen[fp] = len(st.keys)
	k, err := descriptor.ParseKey(walletKeyExpr(&descriptor.Origin{Fingerprint: fp, Path: deriv}, x.String()))
	if err != nil {
		return err
	}
	st.keys = append(st.keys, k)
	return nil
}

func (st *coldcardState) wallet(defaultNet *chaincfg.Params) (*Wallet, error) {
	if len(st.keys) == 0 {
		return nil, invalidf("the setup file lists no keys: expected \"XFP: xpub\" lines")
	}
	if st.m == -1 {
		st.m, st.n = len(st.keys), len(st.keys)
	}
	if st.n != len(st.keys) {
		return nil, invalidf("the Policy line says %d keys but the file lists %d: the file is incomplete or edited", st.n, len(st.keys))
	}
	if err := checkColdcardName(st.name); err != nil {
		return nil, invalidf("%v", err)
	}
	d, err := buildSortedMulti(st.script, st.m, st.keys)
	if err != nil {
		return nil, err
	}
	net, err := networkFromKeys(d, defaultNet)
	if err != nil {
		return nil, err
	}
	return newWallet(st.name, d, net, nil, 0), nil
}
