package miniscript

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
)

// The notation @bitcoinerlab/miniscript prints: small numbers in decimal,
// other pushes as <hex>, keys as <NAME>, key hashes as <HASH160(NAME)>, and
// in witnesses <sig(NAME)> and <sha256_preimage(H)>.

var jsOpNames = map[byte]string{
	txscript.OP_CHECKSIG: "OP_CHECKSIG", txscript.OP_CHECKSIGVERIFY: "OP_CHECKSIGVERIFY",
	txscript.OP_CHECKMULTISIG: "OP_CHECKMULTISIG", txscript.OP_CHECKMULTISIGVERIFY: "OP_CHECKMULTISIGVERIFY",
	txscript.OP_CHECKSIGADD: "OP_CHECKSIGADD", txscript.OP_NUMEQUAL: "OP_NUMEQUAL", txscript.OP_NUMEQUALVERIFY: "OP_NUMEQUALVERIFY",
	txscript.OP_EQUAL: "OP_EQUAL", txscript.OP_EQUALVERIFY: "OP_EQUALVERIFY", txscript.OP_VERIFY: "OP_VERIFY",
	txscript.OP_DUP: "OP_DUP", txscript.OP_HASH160: "OP_HASH160", txscript.OP_SHA256: "OP_SHA256",
	txscript.OP_HASH256: "OP_HASH256", txscript.OP_RIPEMD160: "OP_RIPEMD160", txscript.OP_SIZE: "OP_SIZE",
	txscript.OP_CHECKSEQUENCEVERIFY: "OP_CHECKSEQUENCEVERIFY", txscript.OP_CHECKLOCKTIMEVERIFY: "OP_CHECKLOCKTIMEVERIFY",
	txscript.OP_IF: "OP_IF", txscript.OP_NOTIF: "OP_NOTIF", txscript.OP_ELSE: "OP_ELSE", txscript.OP_ENDIF: "OP_ENDIF",
	txscript.OP_IFDUP: "OP_IFDUP", txscript.OP_SWAP: "OP_SWAP", txscript.OP_TOALTSTACK: "OP_TOALTSTACK",
	txscript.OP_FROMALTSTACK: "OP_FROMALTSTACK", txscript.OP_0NOTEQUAL: "OP_0NOTEQUAL", txscript.OP_ADD: "OP_ADD",
	txscript.OP_BOOLAND: "OP_BOOLAND", txscript.OP_BOOLOR: "OP_BOOLOR",
}

// jsNames names script data for rendering.
type jsNames struct {
	keys   map[string]string // script key bytes -> name
	hashes map[string]string // hash160 of script key bytes -> name
	sigs   map[string]string // fake signature -> name
	pre    map[string]string // preimage -> "sha256_preimage(h)"
}

func newJSNames(ctx Context, keys map[string]PubKey) *jsNames {
	n := &jsNames{keys: map[string]string{}, hashes: map[string]string{}, sigs: map[string]string{}, pre: map[string]string{}}
	for name, pk := range keys {
		b, _ := ctx.scriptKey(pk, letterKey(name))
		n.keys[string(b)] = name
		n.hashes[string(btcutil.Hash160(b))] = name
		n.sigs[string(fakeSig(ctx, name))] = name
	}
	return n
}

// fakeSig is a distinct, maximal-size stand-in signature for key name.
func fakeSig(ctx Context, name string) []byte {
	size := 72
	if ctx == Tapscript {
		size = 65
	}
	b := bytes.Repeat([]byte{0x30}, size)
	copy(b[1:], name)
	return b
}

func (n *jsNames) scriptASM(script []byte) (string, error) {
	var out []string
	tz := txscript.MakeScriptTokenizer(0, script)
	for tz.Next() {
		op, data := tz.Opcode(), tz.Data()
		switch {
		case op == txscript.OP_0:
			out = append(out, "0")
		case op >= txscript.OP_1 && op <= txscript.OP_16:
			out = append(out, fmt.Sprint(int(op-txscript.OP_1)+1))
		case op <= txscript.OP_PUSHDATA4:
			if name, ok := n.keys[string(data)]; ok {
				out = append(out, "<"+name+">")
			} else if name, ok := n.hashes[string(data)]; ok {
				out = append(out, "<HASH160("+name+")>")
			} else {
				out = append(out, "<"+hex.EncodeToString(data)+">")
			}
		default:
			name, ok := jsOpNames[op]
			if !ok {
				return "", fmt.Errorf("opcode 0x%02x", op)
			}
			out = append(out, name)
		}
	}
	return strings.Join(out, " "), tz.Err()
}

func (n *jsNames) witnessASM(stack [][]byte) string {
	var out []string
	for _, e := range stack {
		switch {
		case len(e) == 0:
			out = append(out, "0")
		case bytes.Equal(e, []byte{1}):
			out = append(out, "1")
		case n.sigs[string(e)] != "":
			out = append(out, "<sig("+n.sigs[string(e)]+")>")
		case n.keys[string(e)] != "":
			out = append(out, "<"+n.keys[string(e)]+">")
		case n.pre[string(e)] != "":
			out = append(out, "<"+n.pre[string(e)]+">")
		default:
			out = append(out, "<"+hex.EncodeToString(e)+">")
		}
	}
	return strings.Join(out, " ")
}
