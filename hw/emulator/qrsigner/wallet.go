package qrsigner

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// The emulator's own reading of a multisig wallet, independent of
// countersign's descriptor package: a device checks change against the
// wallet it was given, so its view of the wallet must not share the bug it
// is meant to catch.

// scriptType is how the multisig script is wrapped.
type scriptType int

const (
	p2sh scriptType = iota
	p2shP2wsh
	p2wsh
)

func (s scriptType) String() string {
	return [...]string{"sh", "sh(wsh)", "wsh"}[s]
}

// walletKey is one cosigner: its origin and account-level xpub. The steps
// after the xpub are always branch/index: a descriptor's "/<0;1>/*" or
// "/0/*" both mean receive 0, change 1, which is how the signers read a
// receive-only descriptor from a crypto-output QR.
type walletKey struct {
	fingerprint [4]byte
	origin      []uint32
	xpub        *hdkeychain.ExtendedKey
}

// wallet is a registered multisig wallet.
type wallet struct {
	script    scriptType
	threshold int
	sorted    bool
	keys      []walletKey
}

// maxKeys is the limit of OP_CHECKMULTISIG in P2WSH (and of P2SH by
// script size in practice, 15); the emulator takes up to 20.
const maxKeys = 20

func (w *wallet) String() string {
	return fmt.Sprintf("%d-of-%d %s", w.threshold, len(w.keys), w.script)
}

// check validates the wallet's shape.
func (w *wallet) check() error {
	switch {
	case len(w.keys) == 0 || len(w.keys) > maxKeys:
		return fmt.Errorf("%d keys: want 1..%d", len(w.keys), maxKeys)
	case w.threshold < 1 || w.threshold > len(w.keys):
		return fmt.Errorf("threshold %d of %d keys", w.threshold, len(w.keys))
	case w.script == p2sh && len(w.keys) > 15:
		return errors.New("P2SH multisig holds at most 15 keys")
	}
	return nil
}

// scripts derives the witness script (or P2SH redeem script), redeem script
// (P2SH-P2WSH's program, else the multisig script for P2SH) and
// scriptPubKey at branch/index.
func (w *wallet) scripts(branch, index uint32) (multisig, redeem, spk []byte, err error) {
	if branch > 1 || index >= hdkeychain.HardenedKeyStart {
		return nil, nil, nil, fmt.Errorf("position %d/%d is not a receive or change address", branch, index)
	}
	pubs := make([][]byte, len(w.keys))
	for i, k := range w.keys {
		c, err := k.xpub.Derive(branch)
		if err == nil {
			c, err = c.Derive(index)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		pk, err := c.ECPubKey()
		if err != nil {
			return nil, nil, nil, err
		}
		pubs[i] = pk.SerializeCompressed()
	}
	if w.sorted {
		sort.Slice(pubs, func(a, b int) bool { return bytes.Compare(pubs[a], pubs[b]) < 0 })
	}
	multisig = multisigScript(w.threshold, pubs)
	h := sha256.Sum256(multisig)
	program := append([]byte{0x00, 0x20}, h[:]...)
	switch w.script {
	case p2wsh:
		return multisig, nil, program, nil
	case p2shP2wsh:
		return multisig, program, p2shScript(program), nil
	}
	return multisig, multisig, p2shScript(multisig), nil
}

// multisigScript is OP_m <pubkeys> OP_n OP_CHECKMULTISIG.
func multisigScript(m int, pubs [][]byte) []byte {
	s := pushInt(nil, m)
	for _, p := range pubs {
		s = append(s, byte(len(p)))
		s = append(s, p...)
	}
	return append(pushInt(s, len(pubs)), 0xae)
}

// pushInt appends the minimal push of 1..20: OP_1..OP_16 (0x51..0x60),
// and a one-byte data push above 16, as Bitcoin Core writes multi() with
// more than 16 keys.
func pushInt(s []byte, n int) []byte {
	if n <= 16 {
		return append(s, byte(0x50+n))
	}
	return append(s, 1, byte(n))
}

func p2shScript(redeem []byte) []byte {
	return append(append([]byte{0xa9, 0x14}, btcutil.Hash160(redeem)...), 0x87)
}

// position finds where a BIP-32 derivation sits in the wallet: the key it
// belongs to (by fingerprint and origin path) and the branch/index after
// it. ok is false when the derivation is not one of the wallet's.
func (w *wallet) position(fp [4]byte, path []uint32) (key int, branch, index uint32, ok bool) {
	for i, k := range w.keys {
		if k.fingerprint != fp || len(path) != len(k.origin)+2 {
			continue
		}
		same := true
		for j, s := range k.origin {
			if path[j] != s {
				same = false
				break
			}
		}
		if same {
			return i, path[len(path)-2], path[len(path)-1], true
		}
	}
	return 0, 0, 0, false
}

// parseWallet reads a multisig descriptor: sh(...), sh(wsh(...)) or
// wsh(...) around multi(...) or sortedmulti(...) of [fp/path]xpub/<0;1>/*
// keys (or /0/*), with an optional BIP-380 checksum, which is verified.
func parseWallet(desc string) (*wallet, error) {
	desc = strings.Join(strings.Fields(desc), "")
	body, sum, hasSum := strings.Cut(desc, "#")
	if hasSum {
		want, err := descriptorChecksum(body)
		if err != nil {
			return nil, err
		}
		if sum != want {
			return nil, fmt.Errorf("descriptor checksum %q, want %q", sum, want)
		}
	}
	w := &wallet{}
	s := body
	switch {
	case unwrap(&s, "sh(wsh(", "))"):
		w.script = p2shP2wsh
	case unwrap(&s, "wsh(", ")"):
		w.script = p2wsh
	case unwrap(&s, "sh(", ")"):
		w.script = p2sh
	default:
		return nil, errors.New("the descriptor is not sh(), sh(wsh()) or wsh() of a multisig")
	}
	switch {
	case unwrap(&s, "sortedmulti(", ")"):
		w.sorted = true
	case unwrap(&s, "multi(", ")"):
	default:
		return nil, errors.New("the descriptor is not a multi() or sortedmulti() wallet")
	}
	args := strings.Split(s, ",")
	m, err := strconv.Atoi(args[0])
	if err != nil {
		return nil, fmt.Errorf("threshold %q", args[0])
	}
	w.threshold = m
	for _, a := range args[1:] {
		k, err := parseKey(a)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", len(w.keys)+1, err)
		}
		w.keys = append(w.keys, k)
	}
	return w, w.check()
}

func unwrap(s *string, open, close string) bool {
	if strings.HasPrefix(*s, open) && strings.HasSuffix(*s, close) && len(*s) >= len(open)+len(close) {
		*s = (*s)[len(open) : len(*s)-len(close)]
		return true
	}
	return false
}

// parseKey reads [fingerprint/origin/path]xpub/<0;1>/* (or /0/*).
func parseKey(s string) (walletKey, error) {
	var k walletKey
	if !strings.HasPrefix(s, "[") {
		return k, errors.New("no key origin: the device needs [fingerprint/path] to find its own key")
	}
	origin, rest, ok := strings.Cut(s[1:], "]")
	if !ok {
		return k, errors.New("unclosed key origin")
	}
	steps := strings.Split(origin, "/")
	if len(steps[0]) != 8 {
		return k, fmt.Errorf("fingerprint %q", steps[0])
	}
	for i := 0; i < 4; i++ {
		v, err := strconv.ParseUint(steps[0][2*i:2*i+2], 16, 8)
		if err != nil {
			return k, fmt.Errorf("fingerprint %q", steps[0])
		}
		k.fingerprint[i] = byte(v)
	}
	for _, st := range steps[1:] {
		v, err := parseStep(st)
		if err != nil {
			return k, err
		}
		k.origin = append(k.origin, v)
	}
	xs, tail, _ := strings.Cut(rest, "/")
	switch tail {
	case "<0;1>/*", "0/*":
	default:
		return k, fmt.Errorf("key steps %q: want /<0;1>/* or /0/*", "/"+tail)
	}
	x, err := hdkeychain.NewKeyFromString(xs)
	if err != nil {
		return k, fmt.Errorf("extended key: %v", err)
	}
	if x.IsPrivate() {
		if x, err = x.Neuter(); err != nil {
			return k, err
		}
	}
	if int(x.Depth()) != len(k.origin) {
		return k, fmt.Errorf("the xpub is at depth %d but its origin has %d steps", x.Depth(), len(k.origin))
	}
	k.xpub = x
	return k, nil
}

// parseStep reads one path step: a decimal index, hardened with h, H or '.
func parseStep(st string) (uint32, error) {
	hard := uint32(0)
	if t := strings.TrimRight(st, "hH'"); t != st {
		if len(st)-len(t) != 1 {
			return 0, fmt.Errorf("path step %q", st)
		}
		st, hard = t, hdkeychain.HardenedKeyStart
	}
	v, err := strconv.ParseUint(st, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("path step %q", st)
	}
	return uint32(v) | hard, nil
}

// BIP-380 descriptor checksum, written from the BIP's reference
// description (descsum_expand / descsum_polymod).
const (
	checksumInput   = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)

var checksumGenerator = [5]uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}

func descriptorChecksum(s string) (string, error) {
	var symbols []uint64
	var groups []uint64
	for _, c := range s {
		v := strings.IndexRune(checksumInput, c)
		if v < 0 {
			return "", fmt.Errorf("character %q is not allowed in a descriptor", c)
		}
		symbols = append(symbols, uint64(v&31))
		groups = append(groups, uint64(v>>5))
		if len(groups) == 3 {
			symbols = append(symbols, groups[0]*9+groups[1]*3+groups[2])
			groups = groups[:0]
		}
	}
	switch len(groups) {
	case 1:
		symbols = append(symbols, groups[0])
	case 2:
		symbols = append(symbols, groups[0]*3+groups[1])
	}
	symbols = append(symbols, 0, 0, 0, 0, 0, 0, 0, 0)
	chk := uint64(1)
	for _, v := range symbols {
		top := chk >> 35
		chk = (chk&0x7ffffffff)<<5 ^ v
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				chk ^= checksumGenerator[i]
			}
		}
	}
	chk ^= 1
	out := make([]byte, 8)
	for i := range out {
		out[i] = checksumCharset[(chk>>(5*(7-i)))&31]
	}
	return string(out), nil
}
