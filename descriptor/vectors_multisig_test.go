package descriptor

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/internal/vectors"
)

func loadMultisig(t *testing.T) multisigVectors {
	t.Helper()
	var v multisigVectors
	vectors.Load(t, "descriptor_multisig.json", &v)
	return v
}

// inner returns the argument of a single-argument expression f(ARG).
func inner(t *testing.T, expr string) string {
	t.Helper()
	_, args, ok := call(expr)
	if !ok {
		t.Fatalf("%q is not f(...)", expr)
	}
	return args
}

// wrapBare puts a bare multi()/sortedmulti() vector into a script wrapper
// countersign supports: wsh(), or sh() when a key is uncompressed (segwit
// forbids those). Wrapped vectors are returned as they are.
func wrapBare(t *testing.T, desc string) (string, bool) {
	t.Helper()
	if !strings.HasPrefix(desc, "multi(") && !strings.HasPrefix(desc, "sortedmulti(") {
		return desc, false
	}
	for _, ks := range strings.Split(inner(t, desc), ",")[1:] {
		if k, err := ParseKey(ks); err == nil && k.Uncompressed {
			return "sh(" + desc + ")", true
		}
	}
	return "wsh(" + desc + ")", true
}

// multisigPart is the script the wrapper commits to.
func multisigPart(r *Derived) []byte {
	if r.WitnessScript != nil {
		return r.WitnessScript
	}
	return r.RedeemScript
}

// TestBIP383Scripts derives every BIP-383 multi/sortedmulti vector. Wrapped
// vectors must give the BIP's scriptPubKeys; bare ones (no address, so not
// a wallet) are wrapped and must give the BIP's script as the multisig
// script.
func TestBIP383Scripts(t *testing.T) {
	v := loadMultisig(t)
	if len(v.BIP383.Valid) == 0 {
		t.Fatal("no BIP-383 vectors")
	}
	for _, c := range v.BIP383.Valid {
		t.Run(shorten(c.Descriptor), func(t *testing.T) {
			desc, bare := wrapBare(t, c.Descriptor)
			d, err := Parse(desc)
			if err != nil && bare && strings.Contains(err.Error(), "duplicates key") {
				// This vector lists one key twice (compressed and
				// uncompressed). countersign refuses that in a wallet, so
				// the script is checked from the keys directly.
				t.Logf("Parse refuses the repeated key (%v); checking the script from the keys", err)
				checkBareScript(t, c.Descriptor, c.Scripts[0])
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", desc, err)
			}
			for i, want := range c.Scripts {
				r, err := d.Derive(0, uint32(i), &chaincfg.MainNetParams)
				if err != nil {
					t.Fatalf("Derive(0, %d): %v", i, err)
				}
				got := r.ScriptPubKey
				if bare {
					got = multisigPart(r)
				}
				if hex.EncodeToString(got) != want {
					t.Fatalf("index %d: script %x, want %s", i, got, want)
				}
			}
		})
	}
}

// checkBareScript builds the multisig script of a bare vector of plain keys.
func checkBareScript(t *testing.T, desc, want string) {
	t.Helper()
	name, args, _ := call(desc)
	parts := strings.Split(args, ",")
	m, err := parseThreshold(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var pubs [][]byte
	for _, ks := range parts[1:] {
		k, err := ParseKey(ks)
		if err != nil || k.PubKey == nil {
			t.Fatalf("ParseKey(%q) = %v", ks, err)
		}
		pubs = append(pubs, k.serializedPubKey())
	}
	if name == "sortedmulti" {
		slices.SortFunc(pubs, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	}
	if got := hex.EncodeToString(multisigScript(m, pubs)); got != want {
		t.Fatalf("script %s, want %s", got, want)
	}
}

// TestBIP383Invalid checks each invalid BIP-383 vector fails for its reason.
// Bare vectors are also wrapped in sh() so the threshold rules, not the
// missing wrapper, are what is tested.
func TestBIP383Invalid(t *testing.T) {
	v := loadMultisig(t)
	reasons := map[string]string{
		"More than 15 keys in P2SH multisig": "at most 15",
		"Invalid threshold":                  "is not a number",
		"Threshold of 0":                     "at least 1 signature",
		"Threshold larger than keys":         "more than the 2 keys",
	}
	if len(v.BIP383.Invalid) == 0 {
		t.Fatal("no invalid BIP-383 vectors")
	}
	for _, c := range v.BIP383.Invalid {
		t.Run(c.Reason, func(t *testing.T) {
			want, ok := reasons[c.Reason]
			if !ok {
				t.Fatalf("no expected message for reason %q", c.Reason)
			}
			desc := c.Descriptor
			if !strings.HasPrefix(desc, "sh(") {
				if _, err := Parse(desc); err == nil || !strings.Contains(err.Error(), "has no address") {
					t.Fatalf("bare Parse(%q) = %v, want a no-address error", desc, err)
				}
				desc = "sh(" + desc + ")"
			}
			_, err := Parse(desc)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Parse = %v, want ErrInvalid mentioning %q", err, want)
			}
		})
	}
}

// TestBIP389Multipath checks each multipath vector against the descriptors
// it expands to: multisig ones through Single and Derive, single-key ones
// through their key expression.
func TestBIP389Multipath(t *testing.T) {
	v := loadMultisig(t)
	if len(v.BIP389.Valid) == 0 {
		t.Fatal("no BIP-389 vectors")
	}
	for _, c := range v.BIP389.Valid {
		t.Run(shorten(c.Descriptor), func(t *testing.T) {
			if !strings.Contains(c.Descriptor, "multi(") {
				checkMultipathKey(t, c.Descriptor, c.ExpandsTo)
				return
			}
			desc, _ := wrapBare(t, c.Descriptor)
			d, err := Parse(desc)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Branches() != len(c.ExpandsTo) {
				t.Fatalf("Branches() = %d, want %d", d.Branches(), len(c.ExpandsTo))
			}
			for b, exp := range c.ExpandsTo {
				expDesc, _ := wrapBare(t, exp)
				want, err := Parse(expDesc)
				if err != nil {
					t.Fatalf("Parse(expansion %d): %v", b, err)
				}
				single, err := d.Single(uint32(b))
				if err != nil || single.String() != want.String() {
					t.Fatalf("Single(%d) = %v, %v; want %s", b, single, err, want)
				}
				for idx := range uint32(3) {
					got, err1 := d.Derive(uint32(b), idx, &chaincfg.MainNetParams)
					exp, err2 := want.Derive(0, idx, &chaincfg.MainNetParams)
					if err1 != nil || err2 != nil || !slices.Equal(got.ScriptPubKey, exp.ScriptPubKey) {
						t.Fatalf("branch %d index %d: %v %v", b, idx, err1, err2)
					}
				}
			}
		})
	}
}

// checkMultipathKey checks a single-key vector (pk, pkh, wpkh) at the key
// expression level: countersign has no such descriptors.
func checkMultipathKey(t *testing.T, desc string, expands []string) {
	t.Helper()
	t.Logf("%s() is not a multisig descriptor; checking its key expression", strings.SplitN(desc, "(", 2)[0])
	k, err := ParseKey(inner(t, desc))
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	if k.multipathLen() != len(expands) {
		t.Fatalf("%d alternatives, want %d", k.multipathLen(), len(expands))
	}
	for b, exp := range expands {
		want, err := ParseKey(inner(t, exp))
		if err != nil {
			t.Fatalf("ParseKey(expansion %d): %v", b, err)
		}
		alt := k.clone()
		for j, e := range alt.Path {
			if e.Multi != nil {
				alt.Path[j] = PathElem{Index: e.Multi[b]}
			}
		}
		if alt.String() != want.String() {
			t.Fatalf("alternative %d = %s, want %s", b, alt, want)
		}
	}
}

// TestBIP389Invalid refuses every invalid multipath vector countersign can
// express; tr() is out of scope.
func TestBIP389Invalid(t *testing.T) {
	v := loadMultisig(t)
	if len(v.BIP389.Invalid) == 0 {
		t.Fatal("no invalid BIP-389 vectors")
	}
	for _, c := range v.BIP389.Invalid {
		t.Run(c.Reason+"/"+shorten(c.Descriptor), func(t *testing.T) {
			switch {
			case strings.HasPrefix(c.Descriptor, "tr("):
				t.Skip("tr() is not supported by countersign; its multipath rule is tested by the sh(multi()) vector")
			case strings.Contains(c.Descriptor, "multi("):
				_, err := Parse(c.Descriptor)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "multipath") {
					t.Fatalf("Parse = %v, want a multipath error", err)
				}
			default:
				_, err := ParseKey(inner(t, c.Descriptor))
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseKey = %v, want ErrInvalid", err)
				}
				t.Log(err)
			}
		})
	}
}

// TestBIP67SortedMulti checks the BIP-67 redeem scripts and mainnet P2SH
// addresses of sh(sortedmulti(2, list)), and that sh(multi(2, sorted)) is
// the same wallet script.
func TestBIP67SortedMulti(t *testing.T) {
	v := loadMultisig(t)
	if len(v.BIP67.Vectors) == 0 {
		t.Fatal("no BIP-67 vectors")
	}
	for _, c := range v.BIP67.Vectors {
		t.Run(c.Name, func(t *testing.T) {
			for _, form := range []struct {
				desc string
				keys []string
			}{
				{"sh(sortedmulti(2," + strings.Join(c.List, ",") + "))", c.List},
				{"sh(multi(2," + strings.Join(c.Sorted, ",") + "))", c.Sorted},
			} {
				desc := form.desc
				d, err := Parse(desc)
				if err != nil {
					t.Fatalf("Parse(%s): %v", desc, err)
				}
				r, err := d.Derive(0, 0, &chaincfg.MainNetParams)
				if err != nil {
					t.Fatalf("Derive: %v", err)
				}
				if got := hex.EncodeToString(r.RedeemScript); got != c.Script {
					t.Fatalf("%s: redeem script %s, want %s", desc, got, c.Script)
				}
				if r.Address != c.Address {
					t.Fatalf("%s: address %s, want %s", desc, r.Address, c.Address)
				}
				for i, k := range r.Keys {
					if hex.EncodeToString(k.PubKey) != form.keys[i] {
						t.Fatalf("Keys[%d] = %x: not in descriptor order", i, k.PubKey)
					}
				}
			}
		})
	}
}

// TestInvalidAtDerivation: a hardened step after an xpub parses (BIP-380)
// but cannot be derived; bare multi() has no address.
func TestInvalidAtDerivation(t *testing.T) {
	v := loadMultisig(t)
	if len(v.InvalidAtDerivation) != 2 {
		t.Fatalf("%d vectors, want 2", len(v.InvalidAtDerivation))
	}
	for _, c := range v.InvalidAtDerivation {
		t.Run(c.ExpectedError, func(t *testing.T) {
			if strings.HasPrefix(c.Descriptor, "multi(") {
				_, err := Parse(c.Descriptor)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "has no address") {
					t.Fatalf("Parse = %v, want the no-address error (Core: %q)", err, c.ExpectedError)
				}
				return
			}
			// wpkh() is single-sig; the same key in a 1-of-1 wsh(multi())
			// tests the same rule.
			desc := "wsh(multi(1," + inner(t, c.Descriptor) + "))"
			d, err := Parse(desc)
			if err != nil {
				t.Fatalf("Parse(%s): %v (BIP-380 says it parses)", desc, err)
			}
			_, err = d.Derive(0, 0, &chaincfg.TestNet3Params)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "hardened derivation after an xpub needs the private key") {
				t.Fatalf("Derive = %v, want the hardened-derivation error (Core: %q)", err, c.ExpectedError)
			}
			if !strings.HasPrefix(err.Error(), "invalid descriptor: key 1: ") {
				t.Fatalf("error %q does not name the key", err)
			}
		})
	}
}

// TestBIP129FirstAddress derives each BIP-129 record's first address. A
// template's /** is replaced by the first path restriction, as BIP-129 says
// the first address is taken from it.
func TestBIP129FirstAddress(t *testing.T) {
	v := loadMultisig(t)
	if len(v.BIP129.Vectors) == 0 {
		t.Fatal("no BIP-129 vectors")
	}
	for _, c := range v.BIP129.Vectors {
		t.Run(c.FirstAddress, func(t *testing.T) {
			desc := c.Descriptor
			if c.PathRestrictions != "No path restrictions" {
				first := strings.Split(c.PathRestrictions, ",")[0]
				desc = strings.ReplaceAll(desc, "/**", first)
			}
			net, err := NetworkParams(c.Network)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(desc)
			if err != nil {
				t.Fatalf("Parse(%s): %v", desc, err)
			}
			r, err := d.Derive(0, 0, net)
			if err != nil {
				t.Fatalf("Derive: %v", err)
			}
			if r.Address != c.FirstAddress {
				t.Fatalf("first address %s, want %s", r.Address, c.FirstAddress)
			}
		})
	}
}
