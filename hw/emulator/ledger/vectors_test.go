package ledger

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// The published vectors of testdata/ (see its README) against the
// emulator's own template parser, miniscript compiler, taproot tree and
// tweak, and BIP-341 signature message.

func readVector(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("vector file missing: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// TestBIP341ScriptPubKeys checks leaf hashes, Merkle root, tweak, output
// key, scriptPubKey and address of BIP-341's 7 scriptPubKey vectors.
func TestBIP341ScriptPubKeys(t *testing.T) {
	var v struct {
		ScriptPubKey []struct {
			Given struct {
				InternalPubkey string          `json:"internalPubkey"`
				ScriptTree     json.RawMessage `json:"scriptTree"`
			} `json:"given"`
			Intermediary struct {
				LeafHashes    []string `json:"leafHashes"`
				MerkleRoot    *string  `json:"merkleRoot"`
				Tweak         string   `json:"tweak"`
				TweakedPubkey string   `json:"tweakedPubkey"`
			} `json:"intermediary"`
			Expected struct {
				ScriptPubKey  string `json:"scriptPubKey"`
				BIP350Address string `json:"bip350Address"`
			} `json:"expected"`
		} `json:"scriptPubKey"`
	}
	readVector(t, "bip341_wallet_vectors.json", &v)
	if len(v.ScriptPubKey) != 7 {
		t.Fatalf("%d scriptPubKey vectors, want 7", len(v.ScriptPubKey))
	}
	for i, c := range v.ScriptPubKey {
		var leaves []string
		var root func(raw json.RawMessage) [32]byte
		root = func(raw json.RawMessage) [32]byte {
			var pair []json.RawMessage
			if json.Unmarshal(raw, &pair) == nil {
				return branchHash(root(pair[0]), root(pair[1]))
			}
			var leaf struct {
				ID          int    `json:"id"`
				Script      string `json:"script"`
				LeafVersion int    `json:"leafVersion"`
			}
			if err := json.Unmarshal(raw, &leaf); err != nil {
				t.Fatal(err)
			}
			h := leafHash(byte(leaf.LeafVersion), unhex(t, leaf.Script))
			for len(leaves) <= leaf.ID {
				leaves = append(leaves, "")
			}
			leaves[leaf.ID] = hex.EncodeToString(h[:])
			return h
		}
		var mr []byte
		if string(c.Given.ScriptTree) != "null" && len(c.Given.ScriptTree) > 0 {
			r := root(c.Given.ScriptTree)
			mr = r[:]
		}
		if strings.Join(leaves, ",") != strings.Join(c.Intermediary.LeafHashes, ",") {
			t.Errorf("vector %d: leaf hashes %v, want %v", i, leaves, c.Intermediary.LeafHashes)
		}
		if c.Intermediary.MerkleRoot != nil && hex.EncodeToString(mr) != *c.Intermediary.MerkleRoot || c.Intermediary.MerkleRoot == nil && mr != nil {
			t.Errorf("vector %d: merkle root %x", i, mr)
		}
		q, tweak, err := tweakKey(unhex(t, c.Given.InternalPubkey), mr)
		if err != nil {
			t.Fatal(err)
		}
		qx := schnorr.SerializePubKey(q)
		if hex.EncodeToString(tweak[:]) != c.Intermediary.Tweak || hex.EncodeToString(qx) != c.Intermediary.TweakedPubkey {
			t.Errorf("vector %d: tweak %x, output key %x", i, tweak, qx)
		}
		if spk := hex.EncodeToString(append([]byte{op1, 32}, qx...)); spk != c.Expected.ScriptPubKey {
			t.Errorf("vector %d: scriptPubKey %s", i, spk)
		}
		a, err := btcutil.NewAddressTaproot(qx, &chaincfg.MainNetParams)
		if err != nil || a.EncodeAddress() != c.Expected.BIP350Address {
			t.Errorf("vector %d: address %v %v", i, a, err)
		}
	}
}

// TestBIP341KeyPathSpending checks the signature message, digest and
// tweaked secret key of BIP-341's key-path vectors (every hash type), and
// that the vector's own signature verifies against the emulator's digest.
func TestBIP341KeyPathSpending(t *testing.T) {
	var v struct {
		KeyPathSpending []struct {
			Given struct {
				RawUnsignedTx string `json:"rawUnsignedTx"`
				UtxosSpent    []struct {
					ScriptPubKey string `json:"scriptPubKey"`
					AmountSats   int64  `json:"amountSats"`
				} `json:"utxosSpent"`
			} `json:"given"`
			InputSpending []struct {
				Given struct {
					TxinIndex       int     `json:"txinIndex"`
					InternalPrivkey string  `json:"internalPrivkey"`
					MerkleRoot      *string `json:"merkleRoot"`
					HashType        uint32  `json:"hashType"`
				} `json:"given"`
				Intermediary struct {
					TweakedPrivkey string `json:"tweakedPrivkey"`
					SigMsg         string `json:"sigMsg"`
					SigHash        string `json:"sigHash"`
				} `json:"intermediary"`
				Expected struct {
					Witness []string `json:"witness"`
				} `json:"expected"`
			} `json:"inputSpending"`
		} `json:"keyPathSpending"`
	}
	readVector(t, "bip341_wallet_vectors.json", &v)
	n := 0
	for _, c := range v.KeyPathSpending {
		var m wire.MsgTx
		if err := m.Deserialize(bytes.NewReader(unhex(t, c.Given.RawUnsignedTx))); err != nil {
			t.Fatal(err)
		}
		tx := txFromWire(&m)
		var prevs []txOut
		for _, u := range c.Given.UtxosSpent {
			prevs = append(prevs, txOut{value: u.AmountSats, script: unhex(t, u.ScriptPubKey)})
		}
		h := newBIP341Hashes(tx, prevs)
		for _, in := range c.InputSpending {
			n++
			msg, err := taprootSigMsg(tx, h, in.Given.TxinIndex, in.Given.HashType, nil)
			if err != nil || hex.EncodeToString(msg) != in.Intermediary.SigMsg {
				t.Errorf("input %d type %#x: sigMsg %x (%v)", in.Given.TxinIndex, in.Given.HashType, msg, err)
			}
			d, err := taprootSighash(tx, h, in.Given.TxinIndex, in.Given.HashType, nil)
			if err != nil || hex.EncodeToString(d[:]) != in.Intermediary.SigHash {
				t.Errorf("input %d: sigHash %x (%v)", in.Given.TxinIndex, d, err)
			}
			priv, _ := btcec.PrivKeyFromBytes(unhex(t, in.Given.InternalPrivkey))
			var root [32]byte
			var mr []byte
			if in.Given.MerkleRoot != nil {
				mr = unhex(t, *in.Given.MerkleRoot)
			}
			pub := schnorr.SerializePubKey(priv.PubKey())
			_, root, err = tweakKey(pub, mr)
			if err != nil {
				t.Fatal(err)
			}
			tw, err := tweakPrivKey(priv, root)
			if err != nil {
				t.Fatal(err)
			}
			if k := tw.Key.Bytes(); hex.EncodeToString(k[:]) != in.Intermediary.TweakedPrivkey {
				t.Errorf("input %d: tweaked key %x", in.Given.TxinIndex, k)
			}
			wsig := unhex(t, in.Expected.Witness[0])
			sig, err := schnorr.ParseSignature(wsig[:64])
			if err != nil || !sig.Verify(d[:], tw.PubKey()) {
				t.Errorf("input %d: the vector's signature does not verify against the emulator's digest", in.Given.TxinIndex)
			}
		}
	}
	if n != 7 {
		t.Errorf("%d key-path inputs, want 7", n)
	}
}

// testExpr is a key expression of a concrete descriptor: a key (or the
// keys of a musig) and the steps after it.
type testExpr struct {
	keys []testKey
	path []uint32
	wild bool
}

type testKey struct {
	xpub *hdkeychain.ExtendedKey // nil for a plain key
	pub  *btcec.PublicKey
}

var (
	descKeyRe  = regexp.MustCompile(`^(?:\[[0-9a-fA-F]{8}(?:/[0-9]+['h]?)*\])?([1-9A-HJ-NP-Za-km-z]{100,}|[1-9A-HJ-NP-Za-km-z]{51,52}|0[23][0-9a-f]{64}|[0-9a-f]{64})((?:/[0-9]+['h]?)*)`)
	descPathRe = regexp.MustCompile(`^((?:/[0-9]+['h]?)*)(/\*)?`)
)

func parsePath(t *testing.T, s string) []uint32 {
	var out []uint32
	for _, p := range strings.Split(s, "/")[1:] {
		h := strings.HasSuffix(p, "'") || strings.HasSuffix(p, "h")
		n, err := strconv.ParseUint(strings.TrimRight(p, "'h"), 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		if h {
			n += hdkeychain.HardenedKeyStart
		}
		out = append(out, uint32(n))
	}
	return out
}

// parseTestKey decodes an xpub/xprv (then derives path), a WIF, or a hex
// key (x-only keys get the even Y).
func parseTestKey(t *testing.T, s string, path []uint32) testKey {
	t.Helper()
	switch {
	case len(s) >= 100:
		x, err := hdkeychain.NewKeyFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range path {
			if x, err = x.Derive(p); err != nil {
				t.Fatal(err)
			}
		}
		pub, _ := x.ECPubKey()
		nx, _ := x.Neuter()
		return testKey{xpub: nx, pub: pub}
	case len(s) == 64:
		pub, err := schnorr.ParsePubKey(unhex(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return testKey{pub: pub}
	case len(s) == 66:
		pub, err := btcec.ParsePubKey(unhex(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return testKey{pub: pub}
	default:
		w, err := btcutil.DecodeWIF(s)
		if err != nil {
			t.Fatal(err)
		}
		return testKey{pub: w.PrivKey.PubKey()}
	}
}

// toTemplate turns a concrete descriptor into a wallet policy template
// (every key expression @i/** or musig(@i,...)/**) and its expressions in
// order, for a resolver that derives them as the descriptor says.
func toTemplate(t *testing.T, desc string) (string, []testExpr, int) {
	t.Helper()
	var out strings.Builder
	var exprs []testExpr
	nKeys := 0
	for i := 0; i < len(desc); {
		prev := byte(0)
		if i > 0 {
			prev = desc[i-1]
		}
		if prev == '(' || prev == ',' || prev == '{' {
			if strings.HasPrefix(desc[i:], "musig(") {
				j := i + len("musig(")
				var e testExpr
				var idx []string
				for {
					m := descKeyRe.FindStringSubmatch(desc[j:])
					if m == nil {
						t.Fatalf("musig key at %q", desc[j:])
					}
					e.keys = append(e.keys, parseTestKey(t, m[1], parsePath(t, m[2])))
					idx = append(idx, fmt.Sprintf("@%d", nKeys))
					nKeys++
					j += len(m[0])
					if desc[j] == ')' {
						j++
						break
					}
					j++ // ','
				}
				m := descPathRe.FindStringSubmatch(desc[j:])
				e.path, e.wild = parsePath(t, m[1]), m[2] != ""
				j += len(m[0])
				exprs = append(exprs, e)
				fmt.Fprintf(&out, "musig(%s)/**", strings.Join(idx, ","))
				i = j
				continue
			}
			if m := descKeyRe.FindStringSubmatch(desc[i:]); m != nil {
				e := testExpr{keys: []testKey{parseTestKey(t, m[1], parsePath(t, m[2]))}}
				if strings.HasPrefix(desc[i+len(m[0]):], "/*") {
					e.wild = true
					m[0] += "/*"
				}
				exprs = append(exprs, e)
				fmt.Fprintf(&out, "@%d/**", nKeys)
				nKeys++
				i += len(m[0])
				continue
			}
		}
		out.WriteByte(desc[i])
		i++
	}
	return out.String(), exprs, nKeys
}

// resolve derives expression e of a converted descriptor at index.
func (e testExpr) at(t *testing.T, index uint32) *btcec.PublicKey {
	t.Helper()
	var x *hdkeychain.ExtendedKey
	if len(e.keys) > 1 {
		var pubs []*btcec.PublicKey
		for _, k := range e.keys {
			pubs = append(pubs, k.pub)
		}
		var err error
		if x, err = musigXpub(pubs); err != nil {
			t.Fatal(err)
		}
	} else if x = e.keys[0].xpub; x == nil {
		return e.keys[0].pub
	}
	var err error
	for _, p := range e.path {
		if x, err = x.Derive(p); err != nil {
			t.Fatal(err)
		}
	}
	if e.wild {
		if x, err = x.Derive(index); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := x.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestTaprootDescriptorVectors runs the valid tr() vectors of BIP-386,
// BIP-387 (multi_a, sortedmulti_a) and BIP-390 (musig) through the
// template parser and taprootOutput: each descriptor becomes a template
// of placeholders whose keys derive as the descriptor says.
func TestTaprootDescriptorVectors(t *testing.T) {
	var v map[string]json.RawMessage
	readVector(t, "taproot_descriptor_vectors.json", &v)
	ran := 0
	for _, bip := range []string{"bip0386", "bip0387", "bip0390"} {
		var set struct {
			Valid []struct {
				Descriptor string   `json:"descriptor"`
				Scripts    []string `json:"scripts"`
			} `json:"valid"`
		}
		if err := json.Unmarshal(v[bip], &set); err != nil {
			t.Fatal(err)
		}
		for _, c := range set.Valid {
			if !strings.HasPrefix(c.Descriptor, "tr(") || len(c.Scripts) == 0 || strings.Contains(c.Descriptor, "*'") {
				continue // rawtr() and hardened wildcards are no wallet policy; an empty list names no script
			}
			tmpl, exprs, n := toTemplate(t, c.Descriptor)
			pol, err := parseTemplate(tmpl, n, mustFeatures(LatestAppVersion))
			if err != nil {
				t.Errorf("%s: %s: %v", bip, tmpl, err)
				continue
			}
			for i, want := range c.Scripts {
				td, err := taprootOutput(pol, func(k *keyExpr) (*btcec.PublicKey, error) { return exprs[k.pos].at(t, uint32(i)), nil })
				if err != nil {
					t.Fatal(err)
				}
				if got := hex.EncodeToString(append([]byte{op1, 32}, td.output[:]...)); got != want {
					t.Errorf("%s %s index %d: %s, want %s", bip, c.Descriptor, i, got, want)
				}
			}
			ran++
		}
	}
	if ran != 14 {
		t.Errorf("ran %d descriptors, want 14", ran)
	}
}

var hexKeyRe = regexp.MustCompile(`\b0[23][0-9a-f]{64}\b`)

// msTemplate turns a miniscript with hex keys (or letters A..Z) into a
// template over placeholders, with the keys in order.
func msTemplate(expr string, re *regexp.Regexp) (string, []string) {
	var keys []string
	tmpl := re.ReplaceAllStringFunc(expr, func(k string) string {
		keys = append(keys, k)
		return fmt.Sprintf("@%d/**", len(keys)-1)
	})
	return tmpl, keys
}

// compileIn parses a miniscript in wsh (tap false) or in a tapleaf and
// compiles it with the given keys; it returns the script and the type of
// its top.
func compileIn(expr string, keys [][]byte, tap bool) ([]byte, msType, error) {
	n := len(keys) + b2i(tap)
	tmpl := tmplFor(expr, len(keys), tap)
	pol, err := parseTemplate(tmpl, n, mustFeatures(LatestAppVersion))
	if err != nil {
		return nil, msType{}, err
	}
	root := pol.script
	if tap {
		root = pol.tree.leaf
	}
	s, err := compile(root, func(k *keyExpr) ([]byte, error) { return keys[k.key], nil })
	return s.b, root.t, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tmplFor puts a miniscript over n keys in wsh() or in the leaf of a tr()
// whose internal key is one more placeholder.
func tmplFor(expr string, n int, tap bool) string {
	if tap {
		return fmt.Sprintf("tr(@%d/**,%s)", n, expr)
	}
	return "wsh(" + expr + ")"
}

// TestCoreMiniscriptScripts checks the emulator's miniscript compiler
// against Bitcoin Core's fixed_tests (P2WSH and tapscript scripts), and
// its type checker against the expressions Core finds invalid in both
// contexts.
func TestCoreMiniscriptScripts(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "core_miniscript_fixed_tests.txt"))
	if err != nil {
		t.Fatalf("vector file missing: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	scripts, refusals, analysed, resourced := 0, 0, 0, 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fld := strings.Split(line, "|")
		mode, _ := strconv.Atoi(fld[3])
		tmpl, hk := msTemplate(fld[0], hexKeyRe)
		expr := tmpl
		var wshKeys, tapKeys [][]byte
		for _, k := range hk {
			b, _ := hex.DecodeString(k)
			wshKeys, tapKeys = append(wshKeys, b), append(tapKeys, b[1:])
		}
		for _, ctx := range []struct {
			tap     bool
			want    string
			invalid int
		}{{false, fld[1], 16}, {true, fld[2], 32}} {
			if ctx.want == "=" {
				ctx.want = fld[1]
			}
			keys := wshKeys
			if ctx.tap {
				keys = tapKeys
			}
			got, typ, err := compileIn(expr, keys, ctx.tap)
			switch {
			case mode == 0:
				if err == nil && typ.base == 'B' {
					t.Errorf("%s (tap %v): accepted as %s, Core finds it invalid", fld[0], ctx.tap, typ)
				}
				refusals++
			case mode&1 != 0 && mode&ctx.invalid == 0 && ctx.want != "?":
				if err != nil {
					t.Errorf("%s (tap %v): %v", fld[0], ctx.tap, err)
					continue
				}
				if hex.EncodeToString(got) != ctx.want {
					t.Errorf("%s (tap %v): %x, want %s", fld[0], ctx.tap, got, ctx.want)
				}
				scripts++
			}
			// Core's NONMAL, NEEDSIG and TIMELOCKMIX flags against the
			// emulator's BIP-379 safety analysis.
			if mode&1 != 0 && mode&ctx.invalid == 0 {
				pol, err := parseTemplate(tmplFor(expr, len(keys), ctx.tap), len(keys)+b2i(ctx.tap), mustFeatures(LatestAppVersion))
				if err != nil {
					t.Errorf("%s (tap %v): %v", fld[0], ctx.tap, err)
					continue
				}
				root := pol.script
				if ctx.tap {
					root = pol.tree.leaf
				}
				sf := safety(root)
				if sf.m != (mode&2 != 0) || sf.s != (mode&4 != 0) || sf.k == (mode&8 != 0) {
					t.Errorf("%s (tap %v): m=%v s=%v k=%v, Core's mode %d", fld[0], ctx.tap, sf.m, sf.s, sf.k, mode)
				}
				analysed++
				// Core's ops column (GetOps: opcodes plus the keys
				// of executed CHECKMULTISIGs). Its stack column counts
				// Core's newer execution model, not witness elements:
				// TestRustMiniscriptProps checks those.
				if fld[4] != "-" && !ctx.tap {
					s, _ := compile(root, func(k *keyExpr) ([]byte, error) { return keys[k.key], nil })
					r := resources(root)
					if ops := opCount(s.b) + r.ops.sat; r.ops.sat < 0 || strconv.Itoa(ops) != fld[4] {
						t.Errorf("%s: ops %d (+%d), Core %s", fld[0], ops, r.ops.sat, fld[4])
					}
					resourced++
				}
			}
		}
	}
	if scripts != 57 || refusals != 60 || analysed != 101 {
		t.Errorf("checked %d scripts, %d refusals, %d analyses", scripts, refusals, analysed)
	}
	t.Logf("%d scripts, %d refusals, %d safety analyses, %d resource counts", scripts, refusals, analysed, resourced)
}

// TestRustTapscriptScripts compiles BIP-379's tapscript corpus (keys A..Z
// are the x-only keys of the secret keys 1..26) and compares every script;
// an expression the corpus marks ERR must be refused.
func TestRustTapscriptScripts(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bip379_scripts_from_rust_tap.tsv.gz"))
	if err != nil {
		t.Fatalf("vector file missing: %v", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	letters := map[string][]byte{}
	for i := 1; i <= 26; i++ {
		var b [32]byte
		b[31] = byte(i)
		priv, _ := btcec.PrivKeyFromBytes(b[:])
		letters[string(rune('A'-1+i))] = schnorr.SerializePubKey(priv.PubKey())
	}
	letterRe := regexp.MustCompile(`\b[A-Z]\b`)
	sc := bufio.NewScanner(z)
	sc.Buffer(nil, 1<<20)
	n, bad := 0, 0
	for sc.Scan() {
		fld := strings.Split(sc.Text(), "\t")
		if len(fld) != 2 {
			continue
		}
		tmpl, ks := msTemplate(fld[0], letterRe)
		var keys [][]byte
		for _, k := range ks {
			keys = append(keys, letters[k])
		}
		got, _, err := compileIn(tmpl, keys, true)
		n++
		if fld[1] == "ERR" && err != nil {
			continue
		}
		if err != nil || hex.EncodeToString(got) != fld[1] {
			bad++
			if bad <= 10 {
				t.Errorf("%s: %x (%v), want %s", fld[0], got, err, fld[1])
			}
		}
	}
	if n < 8000 || bad > 0 {
		t.Errorf("%d of %d scripts differ", bad, n)
	}
}

// TestMiniscriptDerivations derives the wsh(miniscript) wallets of the
// shapes countersign's templates make (testdata/miniscript_derivations.json:
// addresses and witness scripts by @bitcoinerlab/descriptors) through the
// emulator's wallet: template, key vector, derive. Descriptors with a
// plain hex key are left out: a wallet policy has only xpubs.
func TestMiniscriptDerivations(t *testing.T) {
	var v []struct {
		Descriptor    string `json:"descriptor"`
		Network       string `json:"network"`
		Change        uint32 `json:"change"`
		Index         uint32 `json:"index"`
		Address       string `json:"address"`
		WitnessScript string `json:"witnessScript"`
	}
	readVector(t, "miniscript_derivations.json", &v)
	keyRe := regexp.MustCompile(`\[[0-9a-f]{8}(?:/[0-9]+h)*\][xt]pub[1-9A-HJ-NP-Za-km-z]+`)
	emus := map[string]*Emulator{}
	ran := 0
	for _, c := range v {
		desc, _, _ := strings.Cut(c.Descriptor, "#")
		if hexKeyRe.MatchString(desc) {
			continue
		}
		net := &chaincfg.TestNet3Params
		if c.Network == "mainnet" {
			net = &chaincfg.MainNetParams
		}
		e := emus[net.Name]
		if e == nil {
			var err error
			if e, err = New(Config{Mnemonic: testMnemonic, Network: net}); err != nil {
				t.Fatal(err)
			}
			emus[net.Name] = e
		}
		// A key written twice is one entry of the key vector (the app
		// refuses two entries with the same public key).
		var keys []string
		tmpl := keyRe.ReplaceAllStringFunc(desc, func(k string) string {
			i := slices.Index(keys, k)
			if i < 0 {
				keys, i = append(keys, k), len(keys)
			}
			return fmt.Sprintf("@%d", i)
		})
		pol, err := parseTemplate(tmpl, len(keys), e.feat)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		w := &wallet{template: tmpl, pol: pol, branches: map[[2]uint32]*hdkeychain.ExtendedKey{}, aggregates: map[int]*hdkeychain.ExtendedKey{}}
		for _, k := range keys {
			ki, err := e.parseKeyInfo(k)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			w.keys = append(w.keys, ki)
		}
		if err := w.checkSane(); err != nil {
			t.Errorf("%s: %v", tmpl, err)
		}
		d, err := w.derive(e, c.Change, c.Index)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(d.witnessScript) != c.WitnessScript {
			t.Errorf("%s %d/%d: witness script %x, want %s", tmpl, c.Change, c.Index, d.witnessScript, c.WitnessScript)
		}
		if (c.Network == "mainnet" || c.Network == "testnet") && d.address.EncodeAddress() != c.Address {
			t.Errorf("%s %d/%d: address %s, want %s", tmpl, c.Change, c.Index, d.address, c.Address)
		}
		ran++
	}
	if ran != 112 {
		t.Errorf("ran %d derivations", ran)
	}
	t.Logf("%d derivations", ran)
}

// TestRustMiniscriptProps checks the emulator's resource counts and safety
// analysis against BIP-379's P2WSH property corpus (rust-miniscript; keys
// A..Z are the compressed keys of the secret keys 1..26) for its
// non-malleable expressions: op_count (the script's opcodes plus the keys
// of executed CHECKMULTISIGs), sat_witness_elements (witness elements to
// satisfy, plus the script), requires_sig and mixed_timelocks.
func TestRustMiniscriptProps(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bip379_props_from_rust.tsv.gz"))
	if err != nil {
		t.Fatalf("vector file missing: %v", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	letters := map[string][]byte{}
	for i := 1; i <= 26; i++ {
		var b [32]byte
		b[31] = byte(i)
		priv, _ := btcec.PrivKeyFromBytes(b[:])
		letters[string(rune('A'-1+i))] = priv.PubKey().SerializeCompressed()
	}
	letterRe := regexp.MustCompile(`\b[A-Z]\b`)
	sc := bufio.NewScanner(z)
	sc.Buffer(nil, 1<<20)
	n, bad := 0, 0
	for sc.Scan() {
		fld := strings.Split(sc.Text(), "\t")
		if len(fld) != 9 || fld[0] == "expr" || fld[6] != "true" {
			// The counts of a malleable expression follow
			// rust-miniscript's malleable satisfactions, which a sane
			// policy (non-malleable) never needs.
			continue
		}
		tmpl, ks := msTemplate(fld[0], letterRe)
		var keys [][]byte
		for _, k := range ks {
			keys = append(keys, letters[k])
		}
		pol, err := parseTemplate(tmplFor(tmpl, len(keys), false), len(keys), mustFeatures(LatestAppVersion))
		if err != nil {
			if strings.Contains(err.Error(), "multi(") && len(keys) > maxMultiKeys {
				continue // the app's multi() takes at most 16 keys
			}
			bad++
			t.Errorf("%s: %v", fld[0], err)
			continue
		}
		s, err := compile(pol.script, func(k *keyExpr) ([]byte, error) { return keys[k.key], nil })
		if err != nil {
			t.Fatal(err)
		}
		r, sf := resources(pol.script), safety(pol.script)
		got := []string{strconv.Itoa(opCount(s.b) + r.ops.sat), strconv.Itoa(r.stack.sat + 1),
			strconv.FormatBool(!sf.k), strconv.FormatBool(sf.m), strconv.FormatBool(sf.s)}
		want := []string{fld[2], fld[3], fld[5], fld[6], fld[7]}
		n++
		if strings.Join(got, " ") != strings.Join(want, " ") {
			bad++
			if bad <= 10 {
				t.Errorf("%s: ops, witness elements, mixed, non-malleable, needs sig = %v, want %v", fld[0], got, want)
			}
		}
	}
	if n != 3996 || bad > 0 {
		t.Errorf("%d of %d non-malleable expressions differ (want 3996 checked)", bad, n)
	}
}
