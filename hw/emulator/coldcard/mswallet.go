package coldcard

// Miniscript wallets: enrolment ("mins"), listing ("msls"), reading back
// ("msgt"), deleting ("msdl") and showing addresses ("msas"), following
// shared/usb.py and shared/auth.py (maybe_enroll_xpub) on the firmware's
// new_edge branch (commit 8919b84a).

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// msWallet is one enrolled miniscript or taproot wallet.
type msWallet struct {
	name     string
	desc     string // as enrolled, without checksum
	tap      bool
	keys     []msKey
	ms       *msNode   // wsh
	internal int       // tr: index of the internal key, -1 for musig()
	musig    []int     // tr: indexes of the musig() internal key's participants
	musigBr  [2]uint32 // tr: the musig() aggregate's receive and change steps
	tree     *tapTree  // tr: nil for a key-path-only wallet
	derived  *derivCache
}

// msDerived is a wallet at one (change, index).
type msDerived struct {
	pubs     [][]byte // per key: 33 bytes (wsh) or x-only (tr)
	script   []byte   // wsh witness script
	leaves   []tapLeafInfo
	root     []byte // tr merkle root, nil without a tree
	outKey   []byte // tr output key, x-only
	internal []byte // tr internal key, x-only
	musigAgg []byte // tr musig(): the plain KeyAgg key, 33 bytes
	spk      []byte
	address  string
}

type tapLeafInfo struct {
	node   *msNode
	script []byte
	hash   chainhash.Hash
}

// parseMiniscriptDescriptor parses a wsh() or tr() descriptor and checks
// that this device's key is in it.
func (e *Emulator) parseMiniscriptDescriptor(text string) (*msWallet, error) {
	w, err := e.parseDescriptorText(text)
	if err != nil {
		return nil, err
	}
	my := binary.LittleEndian.Uint32(e.xfp[:])
	mine := 0
	for _, k := range w.keys {
		if k.xpub == nil || k.xfp != my {
			continue
		}
		got, err := e.pubAt(k.deriv)
		want, _ := k.xpub.ECPubKey()
		if err != nil || !bytes.Equal(got, want.SerializeCompressed()) {
			return nil, fmt.Errorf("[%s/%s] wrong pubkey", xfpString(k.xfp), pathString(k.deriv))
		}
		mine++
	}
	if mine == 0 {
		return nil, errors.New("My key is not included in this wallet")
	}
	return w, nil
}

// parseDescriptorText parses a wsh() or tr() descriptor into a wallet and
// derives its first address, so that a script that cannot be built is
// refused at enrolment.
func (e *Emulator) parseDescriptorText(text string) (*msWallet, error) {
	body, err := stripChecksum(strings.TrimSpace(text))
	if err != nil {
		return nil, err
	}
	p := &descParser{s: body, e: e}
	w := &msWallet{desc: body, derived: &derivCache{}}
	switch {
	case p.eat("wsh("):
		n, err := p.node(0)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(n.frag, "sortedmulti") && n.wrap != "" {
			return nil, p.fail("sortedmulti only at top level")
		}
		w.ms = &n
	case p.eat("tr("):
		if !e.fw.atLeast(6, 0, 0) {
			return nil, errors.New("Unsupported descriptor")
		}
		p.tap, w.tap = true, true
		if p.eat("musig(") {
			if !e.fw.musig() {
				return nil, errors.New("musig() needs firmware 6.5.0X or later")
			}
			w.internal = -1
			if w.musig, w.musigBr, err = p.parseMusig(binary.LittleEndian.Uint32(e.xfp[:])); err != nil {
				return nil, err
			}
		} else if w.internal, err = p.key(true); err != nil {
			return nil, err
		}
		if p.eat(",") {
			if w.tree, err = p.tree(0); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errors.New("Unsupported descriptor: only wsh() and tr() miniscript")
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if p.pos != len(p.s) {
		return nil, p.fail("trailing text")
	}
	w.keys = p.keys
	maxKeys := 20
	if w.tap {
		maxKeys = 32
	}
	if len(w.keys) > maxKeys {
		return nil, fmt.Errorf("too many keys: %d, at most %d", len(w.keys), maxKeys)
	}
	// Every derived script must compile and fit: try the first address.
	if _, err := w.derive(e, 0, 0); err != nil {
		return nil, err
	}
	return w, nil
}

// derive computes the wallet's script and address at (change, index).
func (w *msWallet) derive(e *Emulator, change, index uint32) (*msDerived, error) {
	if change > 1 || index >= 1<<31 {
		return nil, errors.New("child idx")
	}
	d := &msDerived{pubs: make([][]byte, len(w.keys))}
	for i, k := range w.keys {
		var pub []byte
		if k.xpub == nil {
			pub = k.static
			if len(pub) == 33 {
				pub = pub[1:]
			}
		} else if k.musig {
			pk, err := k.xpub.ECPubKey()
			if err != nil {
				return nil, err
			}
			pub = pk.SerializeCompressed()[1:]
		} else {
			c, err := w.derived.derive(k.xpub, k.xpub.String(), []uint32{k.branches[change], index})
			if err != nil {
				return nil, err
			}
			pk, err := c.ECPubKey()
			if err != nil {
				return nil, err
			}
			pub = pk.SerializeCompressed()
			if w.tap {
				pub = pub[1:]
			}
		}
		d.pubs[i] = pub
	}
	if !w.tap {
		b := txscript.NewScriptBuilder()
		w.ms.script(b, d.pubs, false)
		s, err := b.Script()
		if err != nil {
			return nil, err
		}
		if len(s) > 3600 {
			return nil, errors.New("script too long")
		}
		d.script = s
		h := sha256.Sum256(s)
		d.spk = append([]byte{txscript.OP_0, 32}, h[:]...)
		a, err := btcutil.NewAddressWitnessScriptHash(h[:], e.net)
		if err != nil {
			return nil, err
		}
		d.address = a.EncodeAddress()
		return d, nil
	}
	d.internal = d.pubs[max(w.internal, 0)]
	if w.musig != nil {
		var parts []*btcec.PublicKey
		for _, ki := range w.musig {
			pk, err := w.keys[ki].xpub.ECPubKey()
			if err != nil {
				return nil, err
			}
			parts = append(parts, pk)
		}
		plain, derived, _, err := musigDerive(parts, []uint32{w.musigBr[change], index})
		if err != nil {
			return nil, err
		}
		d.musigAgg = plain.SerializeCompressed()
		d.internal = derived.SerializeCompressed()[1:]
	}
	internal, err := schnorr.ParsePubKey(d.internal)
	if err != nil {
		return nil, fmt.Errorf("internal key: %v", err)
	}
	if w.tree != nil {
		root, err := d.merkle(w.tree)
		if err != nil {
			return nil, err
		}
		d.root = root[:]
	}
	out := txscript.ComputeTaprootOutputKey(internal, d.root)
	d.outKey = schnorr.SerializePubKey(out)
	d.spk = append([]byte{txscript.OP_1, 32}, d.outKey...)
	a, err := btcutil.NewAddressTaproot(d.outKey, e.net)
	if err != nil {
		return nil, err
	}
	d.address = a.EncodeAddress()
	return d, nil
}

// merkle computes BIP-341's tagged hashes up the tree, recording leaves.
func (d *msDerived) merkle(t *tapTree) (chainhash.Hash, error) {
	if t.leaf != nil {
		b := txscript.NewScriptBuilder()
		t.leaf.script(b, d.pubs, true)
		s, err := b.Script()
		if err != nil {
			return chainhash.Hash{}, err
		}
		var buf bytes.Buffer
		buf.WriteByte(0xc0) // BIP-342 leaf version
		if err := wire.WriteVarBytes(&buf, 0, s); err != nil {
			return chainhash.Hash{}, err
		}
		h := *chainhash.TaggedHash([]byte("TapLeaf"), buf.Bytes())
		d.leaves = append(d.leaves, tapLeafInfo{node: t.leaf, script: s, hash: h})
		return h, nil
	}
	l, err := d.merkle(t.left)
	if err != nil {
		return l, err
	}
	r, err := d.merkle(t.right)
	if err != nil {
		return r, err
	}
	if bytes.Compare(l[:], r[:]) > 0 {
		l, r = r, l
	}
	return *chainhash.TaggedHash([]byte("TapBranch"), l[:], r[:]), nil
}

// hasMiniscript reports whether any miniscript wallet is enrolled.
func (e *Emulator) hasMiniscript() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.msWallets) > 0
}

// findMiniscript returns the enrolled miniscript wallet named name.
func (e *Emulator) findMiniscript(name string) *msWallet {
	for _, w := range e.msWallets {
		if w.name == name {
			return w
		}
	}
	return nil
}

// enrollMiniscript is "mins" (and, from 6.4.0X, "enrl"): the uploaded
// file is a descriptor, or JSON {"name": ..., "desc": ...}.
func (s *session) enrollMiniscript(args []byte, maxLen int) ([]byte, error) {
	if len(args) != 36 {
		return nil, usbError("badlen")
	}
	size := int(binary.LittleEndian.Uint32(args))
	if !bytes.Equal(args[4:36], s.checksum.Sum(nil)) {
		return nil, usbError("Checksum")
	}
	if err := check(size > 100 && size <= maxLen && size <= len(s.psram), "badlen"); err != nil {
		return nil, err
	}
	text := string(s.psram[:size])
	name := ""
	var j struct {
		Name *string `json:"name"`
		Desc *string `json:"desc"`
	}
	if json.Unmarshal([]byte(text), &j) == nil {
		if j.Desc == nil || *j.Desc == "" {
			return nil, usbError("'desc' key required")
		}
		text = *j.Desc
		if j.Name != nil {
			name = *j.Name
			if len(name) < 2 || len(name) > 40 {
				return nil, usbError("'name' length")
			}
		}
	}
	w, err := s.e.parseMiniscriptDescriptor(text)
	if err != nil {
		return nil, usbError(err.Error())
	}
	if name == "" {
		// No file name over USB: the firmware names the wallet after the
		// descriptor's checksum.
		name, _ = descChecksum(w.desc)
	}
	w.name = name
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	for _, have := range s.e.msWallets {
		if have.name == w.name {
			return nil, usbError(fmt.Sprintf("Miniscript wallet with name '%s' already exists. All wallets MUST have unique names.", w.name))
		}
		if have.desc == w.desc {
			return nil, usbError(fmt.Sprintf("Duplicate wallet. Wallet '%s' is the same.", have.name))
		}
	}
	a := &approval{kind: "enroll"}
	s.active = a
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		ok := s.approve(Request{Kind: "enroll", Text: "Create new miniscript wallet?\n\nWallet Name:\n  " + w.name + "\n\n" + w.desc + "\n"})
		s.e.mu.Lock()
		defer s.e.mu.Unlock()
		if !ok {
			a.refused = true
			return
		}
		s.e.msWallets = append(s.e.msWallets, w)
		a.done = true
		if s.active == a {
			s.active = nil
		}
	}()
	return nil, nil
}

// miniscriptCmd answers msls, msas, msdl and msgt.
func (s *session) miniscriptCmd(cmd string, args []byte) ([]byte, error) {
	if !s.encReq {
		return nil, usbError("must encrypt")
	}
	if cmd == "msls" {
		s.e.mu.Lock()
		names := []string{}
		for _, w := range s.e.msWallets {
			names = append(names, w.name)
		}
		s.e.mu.Unlock()
		b, _ := json.Marshal(names)
		return append([]byte("asci"), b...), nil
	}
	var change, idx uint32
	if cmd == "msas" {
		if len(args) < 8 {
			return nil, usbError("badlen")
		}
		change, idx = binary.LittleEndian.Uint32(args), binary.LittleEndian.Uint32(args[4:])
		if change > 1 {
			return nil, usbError("change not bool")
		}
		if idx >= 1<<31 {
			return nil, usbError("child idx")
		}
		args = args[8:]
	}
	if len(args) > 32 {
		return nil, usbError("name len")
	}
	s.e.mu.Lock()
	w := s.e.findMiniscript(string(args))
	s.e.mu.Unlock()
	if w == nil {
		return nil, usbError(fmt.Sprintf("Miniscript wallet with name '%s' not found", printableName(args)))
	}
	switch cmd {
	case "msas":
		if s.pendingKind() != "" {
			return nil, busyError{}
		}
		d, err := w.derive(s.e, change, idx)
		if err != nil {
			return nil, usbError(err.Error())
		}
		return []byte("asci" + d.address), nil
	case "msgt":
		sum, _ := descChecksum(w.desc)
		b, _ := json.Marshal(map[string]string{"name": w.name, "desc": w.desc + "#" + sum})
		return append([]byte("asci"), b...), nil
	case "msdl":
		s.e.mu.Lock()
		defer s.e.mu.Unlock()
		a := &approval{kind: "enroll"}
		s.active = a
		s.jobs.Add(1)
		go func() {
			defer s.jobs.Done()
			ok := s.approve(Request{Kind: "delete", Text: "Delete miniscript wallet?\n\n" + w.name})
			s.e.mu.Lock()
			defer s.e.mu.Unlock()
			if !ok {
				a.refused = true
				return
			}
			for i, have := range s.e.msWallets {
				if have == w {
					s.e.msWallets = append(s.e.msWallets[:i:i], s.e.msWallets[i+1:]...)
					break
				}
			}
			a.done = true
			if s.active == a {
				s.active = nil
			}
		}()
		return nil, nil
	}
	return nil, usbError("Unknown cmd")
}

func printableName(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, string(b))
}
