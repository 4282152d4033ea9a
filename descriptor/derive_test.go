package descriptor

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// expected computes a position independently of the package: hdkeychain
// for the keys, txscript for the multisig and output scripts.
type expected struct {
	address       string
	scriptPubKey  []byte
	witnessScript []byte
	redeemScript  []byte
	pubs          [][]byte
}

func expectedAt(t *testing.T, d *Descriptor, branch, index uint32, net *chaincfg.Params) expected {
	t.Helper()
	var e expected
	var addrPubs []*btcutil.AddressPubKey
	for _, k := range d.Keys {
		x := k.XPub
		for _, s := range k.Path {
			step := s.Index
			if s.Multi != nil {
				step = s.Multi[branch]
			}
			var err error
			if x, err = x.Derive(step); err != nil {
				t.Fatal(err)
			}
		}
		x, err := x.Derive(index)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := x.ECPubKey()
		if err != nil {
			t.Fatal(err)
		}
		e.pubs = append(e.pubs, pk.SerializeCompressed())
	}
	sorted := slices.Clone(e.pubs)
	if d.Sorted {
		slices.SortFunc(sorted, bytes.Compare)
	}
	for _, p := range sorted {
		a, err := btcutil.NewAddressPubKey(p, net)
		if err != nil {
			t.Fatal(err)
		}
		addrPubs = append(addrPubs, a)
	}
	ms, err := txscript.MultiSigScript(addrPubs, d.Threshold)
	if err != nil {
		t.Fatal(err)
	}
	var addr btcutil.Address
	switch d.Script {
	case ScriptSh:
		e.redeemScript = ms
		addr, err = btcutil.NewAddressScriptHash(ms, net)
	case ScriptWsh:
		e.witnessScript = ms
		h := sha256.Sum256(ms)
		addr, err = btcutil.NewAddressWitnessScriptHash(h[:], net)
	case ScriptShWsh:
		e.witnessScript = ms
		h := sha256.Sum256(ms)
		w, err2 := btcutil.NewAddressWitnessScriptHash(h[:], net)
		if err2 != nil {
			t.Fatal(err2)
		}
		if e.redeemScript, err = txscript.PayToAddrScript(w); err != nil {
			t.Fatal(err)
		}
		addr, err = btcutil.NewAddressScriptHash(e.redeemScript, net)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.address = addr.EncodeAddress()
	if e.scriptPubKey, err = txscript.PayToAddrScript(addr); err != nil {
		t.Fatal(err)
	}
	return e
}

func checkDerived(t *testing.T, d *Descriptor, r *Derived, branch, index uint32, net *chaincfg.Params) {
	t.Helper()
	e := expectedAt(t, d, branch, index, net)
	if r.Branch != branch || r.Index != index {
		t.Fatalf("position %d/%d, want %d/%d", r.Branch, r.Index, branch, index)
	}
	if r.Address != e.address || !bytes.Equal(r.ScriptPubKey, e.scriptPubKey) ||
		!bytes.Equal(r.WitnessScript, e.witnessScript) || !bytes.Equal(r.RedeemScript, e.redeemScript) {
		t.Fatalf("%s at %d/%d: got %s, want %s", d.Script, branch, index, r.Address, e.address)
	}
	for i, k := range r.Keys {
		if !bytes.Equal(k.PubKey, e.pubs[i]) {
			t.Fatalf("key %d pubkey %x, want %x", i+1, k.PubKey, e.pubs[i])
		}
		o := d.Keys[i].Origin
		wantPath := append(slices.Clone(o.Path), branch, index)
		if k.Fingerprint != o.Fingerprint || !slices.Equal(k.Path, wantPath) {
			t.Fatalf("key %d origin %x %v, want %x %v", i+1, k.Fingerprint, k.Path, o.Fingerprint, wantPath)
		}
	}
}

// TestDeriveAgainstReference compares Derive and DeriveRange with an
// independent computation for every script type, on both branches, at
// first and last indexes.
func TestDeriveAgainstReference(t *testing.T) {
	base := benchWallet(t, 3, 5)
	for _, st := range []ScriptType{ScriptWsh, ScriptShWsh, ScriptSh} {
		for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams} {
			d := base.clone()
			d.Script = st
			for _, branch := range []uint32{0, 1} {
				for _, index := range []uint32{0, 1, 1000, HardenedKeyStart - 1} {
					r, err := d.Derive(branch, index, net)
					if err != nil {
						t.Fatal(err)
					}
					checkDerived(t, d, r, branch, index, net)
				}
				rs, err := d.DeriveRange(branch, 500, 300, net)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range rs {
					if i%37 == 0 || i == len(rs)-1 {
						checkDerived(t, d, r, branch, 500+uint32(i), net)
					}
				}
			}
			if n := d.cache.fallbacks.Load(); n != 0 {
				t.Fatalf("%d batch rounds failed verification", n)
			}
		}
	}
}

// TestDeriveRangeEqualsDerive: the batched, parallel path and the
// one-at-a-time path agree exactly, also for a wallet mixing a plain key,
// a fixed xpub path and a private key with a hardened wildcard.
func TestDeriveRangeEqualsDerive(t *testing.T) {
	w := benchWallet(t, 2, 2)
	plain := "02e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b404" // BIP-67 vector 2
	mixed := fmt.Sprintf("wsh(multi(3,%s,%s,%s/7,%s/<0;1>/*h))", w.Keys[0], plain,
		strings.TrimSuffix(w.Keys[1].String(), "/<0;1>/*"), benchXprv(t, 9))
	for _, desc := range []string{w.String(), mixed} {
		d, err := Parse(desc)
		if err != nil {
			t.Fatalf("Parse(%s): %v", desc, err)
		}
		for _, count := range []uint32{1, 63, 700} {
			rs, err := d.DeriveRange(1, 10, count, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != int(count) {
				t.Fatalf("%d results, want %d", len(rs), count)
			}
			for i, r := range rs {
				one, err := d.Derive(1, 10+uint32(i), &chaincfg.MainNetParams)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(*one) != fmt.Sprint(*r) {
					t.Fatalf("index %d: DeriveRange and Derive differ", 10+i)
				}
			}
		}
		if n := d.cache.fallbacks.Load(); n != 0 {
			t.Fatalf("%d batch rounds failed verification", n)
		}
	}

	// Keys of one Derived share backing arrays; appending to one key's
	// slices must not change the next key.
	rs, err := w.DeriveRange(0, 0, 100, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	k := rs[50].Keys
	pub1, path1 := slices.Clone(k[1].PubKey), slices.Clone(k[1].Path)
	_ = append(k[0].PubKey, 0xff)
	_ = append(k[0].Path, 0xff)
	if !bytes.Equal(k[1].PubKey, pub1) || !slices.Equal(k[1].Path, path1) {
		t.Fatal("appending to key 1's slices changed key 2")
	}
}

// TestDeriveConcurrent derives from one Descriptor in many goroutines (run
// with -race to check the cache's locking).
func TestDeriveConcurrent(t *testing.T) {
	d := benchWallet(t, 2, 3)
	want, err := d.DeriveRange(0, 0, 80, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	d = benchWallet(t, 2, 3) // cold cache, so goroutines race to fill it
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			branch := uint32(g % 2)
			if g%3 == 0 {
				rs, err := d.DeriveRange(branch, 0, 80, &chaincfg.MainNetParams)
				if err == nil && branch == 0 && rs[79].Address != want[79].Address {
					err = errors.New("DeriveRange gave another address")
				}
				errs <- err
				return
			}
			r, err := d.Derive(branch, 5, &chaincfg.MainNetParams)
			if err == nil && branch == 0 && r.Address != want[5].Address {
				err = errors.New("Derive gave another address")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDerivedOriginWithoutOrigin: a key without origin is its own root,
// like Bitcoin Core: fingerprint = hash160 of the key, path from the key.
func TestDerivedOriginWithoutOrigin(t *testing.T) {
	w := benchWallet(t, 1, 1)
	x := w.Keys[0].XPub
	plain := "02e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b404"
	d, err := Parse(fmt.Sprintf("wsh(multi(1,%s/<0;1>/*,%s))", x, plain))
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Derive(1, 7, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := fingerprintOf(x)
	if err != nil {
		t.Fatal(err)
	}
	if r.Keys[0].Fingerprint != fp || !slices.Equal(r.Keys[0].Path, []uint32{1, 7}) {
		t.Fatalf("xpub key origin %x %v", r.Keys[0].Fingerprint, r.Keys[0].Path)
	}
	plainBytes := r.Keys[1].PubKey
	var want [4]byte
	copy(want[:], btcutil.Hash160(plainBytes))
	if r.Keys[1].Fingerprint != want || len(r.Keys[1].Path) != 0 {
		t.Fatalf("plain key origin %x %v", r.Keys[1].Fingerprint, r.Keys[1].Path)
	}
	// The caller owns the slices it gets back.
	r.Keys[1].PubKey[0] ^= 0xff
	again, err := d.Derive(1, 7, &chaincfg.MainNetParams)
	if err != nil || again.Address != r.Address || again.Keys[1].PubKey[0] == r.Keys[1].PubKey[0] {
		t.Fatal("changing a Derived changed the descriptor's cache")
	}
}

// TestHandBuiltDescriptor: a Descriptor literal (no Parse) is validated
// before deriving and works without a cache.
func TestHandBuiltDescriptor(t *testing.T) {
	w := benchWallet(t, 2, 3)
	d := &Descriptor{Script: ScriptWsh, Threshold: 2, Sorted: true, Keys: w.Keys}
	got, err := d.DeriveRange(0, 0, 100, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.Derive(0, 99, &chaincfg.MainNetParams)
	if err != nil || got[99].Address != want.Address {
		t.Fatalf("hand-built descriptor derived %s, want %s (%v)", got[99].Address, want.Address, err)
	}
	bad := &Descriptor{Script: ScriptWsh, Threshold: 4, Keys: w.Keys}
	if _, err := bad.Derive(0, 0, &chaincfg.MainNetParams); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid hand-built descriptor: %v", err)
	}
	var none *Descriptor
	if _, err := none.Derive(0, 0, &chaincfg.MainNetParams); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil descriptor: %v", err)
	}
}
