package miniscript

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
)

// sumExpr evaluates Core's witness size sums such as "2+2+1+2*73".
func sumExpr(t *testing.T, s string) int {
	t.Helper()
	total := 0
	for _, term := range strings.Split(s, "+") {
		prod := 1
		for _, f := range strings.Split(term, "*") {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("bad number %q in %q", f, s)
			}
			prod *= v
		}
		total += prod
	}
	return total
}

// TestCoreFixedVectors runs Bitcoin Core's fixed miniscript tests
// (testdata/core) in both contexts: validity, script bytes, the
// malleability/signature/timelock flags, script decoding, and the static
// analysis (ops, witness elements, witness size, execution stack).
func TestCoreFixedVectors(t *testing.T) {
	f, err := os.Open("testdata/core/miniscript_fixed_tests.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	count := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fl := strings.Split(line, "|")
		if len(fl) != 9 {
			t.Fatalf("malformed line %q", line)
		}
		count++
		mode, _ := strconv.Atoi(fl[3])
		for _, ctx := range []Context{P2WSH, Tapscript} {
			name := fl[0] + "[" + ctx.String() + "]"
			n, err := Parse(fl[0], ctx, nil)
			invalid := mode == 0 || (mode&16 != 0 && ctx == P2WSH) || (mode&32 != 0 && ctx == Tapscript)
			if invalid {
				if err == nil {
					t.Errorf("%s: valid, want invalid", name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			script, err := n.Script(PubKeyBytes)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			want := fl[1]
			if ctx == Tapscript && fl[2] != "=" {
				want = fl[2]
			}
			if want != "?" && hex.EncodeToString(script) != want {
				t.Errorf("%s: script %x, want %s", name, script, want)
			}
			if len(script) != n.ScriptSize() {
				t.Errorf("%s: ScriptSize %d, script %d bytes", name, n.ScriptSize(), len(script))
			}
			if got := n.Type().Has(PropM); got != (mode&2 != 0) {
				t.Errorf("%s: non-malleable %v, want %v (type %s)", name, got, !got, n.Type())
			}
			if got := n.Type().Has(PropS); got != (mode&4 != 0) {
				t.Errorf("%s: needs signature %v, want %v (type %s)", name, got, !got, n.Type())
			}
			if got := !n.Type().Has(PropK); got != (mode&8 != 0) {
				t.Errorf("%s: timelock mix %v, want %v (type %s)", name, got, !got, n.Type())
			}
			d, err := Decode(script, ctx, coreDecodeOpts(n, ctx))
			if err != nil {
				t.Errorf("%s: decode: %v", name, err)
			} else if again, _ := d.Script(PubKeyBytes); !bytes.Equal(again, script) {
				t.Errorf("%s: decode round trip differs", name)
			}
			if fl[4] != "-" {
				if ops, _ := n.MaxOps(); strconv.Itoa(ops) != fl[4] {
					t.Errorf("%s: ops %d, want %s", name, ops, fl[4])
				}
				if el, _ := n.MaxWitnessElements(); strconv.Itoa(el) != fl[5] {
					t.Errorf("%s: witness elements %d, want %s", name, el, fl[5])
				}
				w := fl[6]
				if ctx == Tapscript {
					w = fl[7]
				}
				if ws, _ := n.MaxWitnessSize(); ws != sumExpr(t, w) {
					t.Errorf("%s: witness size %d, want %s", name, ws, w)
				}
				if ex, _ := n.MaxExecStackSize(); strconv.Itoa(ex) != fl[8] {
					t.Errorf("%s: exec stack %d, want %s", name, ex, fl[8])
				}
			}
		}
	}
	if count != 85 {
		t.Fatalf("%d vectors, want 85", count)
	}
	t.Logf("%d Core vectors in two contexts", count)
}

// coreDecodeOpts finds pk_h keys among the node's own keys.
func coreDecodeOpts(n *Node, ctx Context) DecodeOptions {
	byHash := map[string][]byte{}
	for _, k := range n.AllKeys() {
		b, _ := ctx.scriptKey(k.(PubKey), k)
		byHash[string(btcutil.Hash160(b))] = b
	}
	return DecodeOptions{KeyByHash: func(h []byte) (Key, []byte, error) {
		b, ok := byHash[string(h)]
		if !ok {
			return nil, nil, errString("unknown")
		}
		return PubKey(b), b, nil
	}}
}
