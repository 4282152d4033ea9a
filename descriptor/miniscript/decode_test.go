package miniscript

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
)

// letterDecode decodes keys back to their letters.
func letterDecode(ctx Context, keys map[string]PubKey) DecodeOptions {
	byBytes := map[string]string{}
	byHash := map[string]string{}
	for name, pk := range keys {
		b, _ := ctx.scriptKey(pk, letterKey(name))
		byBytes[string(b)] = name
		byHash[string(btcutil.Hash160(b))] = name
	}
	return DecodeOptions{
		Key: func(pub []byte) (Key, error) {
			if name, ok := byBytes[string(pub)]; ok {
				return letterKey(name), nil
			}
			return nil, errString("unknown key")
		},
		KeyByHash: func(h []byte) (Key, []byte, error) {
			name, ok := byHash[string(h)]
			if !ok {
				return nil, nil, errString("unknown key hash")
			}
			b, _ := ctx.scriptKey(keys[name], letterKey(name))
			return letterKey(name), b, nil
		},
	}
}

// TestDecodeRoundTripVectors encodes every valid expression of the BIP-379
// property tables, decodes the script, and checks the decoded miniscript
// encodes to the same script and has the same type and analysis.
func TestDecodeRoundTripVectors(t *testing.T) {
	keys := letterKeys(t)
	for _, name := range []string{"props_from_rust.tsv.gz", "props_from_rust_tap.tsv.gz"} {
		ctx := vecCtx(name)
		f := &failures{t: t}
		same := 0
		for i, line := range readVectorLines(t, "bip379/"+name) {
			if i == 0 || strings.HasSuffix(line, "PARSE_ERR") {
				continue
			}
			f.total++
			expr, _, _ := strings.Cut(line, "\t")
			n, err := Parse(expr, ctx, letterParser(keys))
			if err != nil {
				f.add("%s: %v", expr, err)
				continue
			}
			script, err := n.Script(letterBytes(keys))
			if err != nil {
				f.add("%s: %v", expr, err)
				continue
			}
			d, err := Decode(script, ctx, letterDecode(ctx, keys))
			if err != nil {
				f.add("%s: decode: %v", expr, err)
				continue
			}
			again, _ := d.Script(letterBytes(keys))
			if !bytes.Equal(again, script) {
				f.add("%s: decoded %s encodes differently", expr, d)
			}
			if d.Type() != n.Type() {
				f.add("%s: decoded %s has type %s, want %s", expr, d, d.Type(), n.Type())
			}
			if d.String() == n.String() {
				same++
			}
		}
		f.done(name)
		t.Logf("%s: %d of %d decode to the identical text", name, same, f.total)
	}
}
