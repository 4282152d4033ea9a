package psbt

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// scriptKind is how an input's multisig script is wrapped, named as the
// descriptor types are.
type scriptKind int

const (
	kindUnknown scriptKind = iota
	kindSh                 // P2SH: scriptSig carries the redeem script (the multisig)
	kindShWsh              // P2SH-P2WSH: redeem script is a P2WSH program, witness script the multisig
	kindWsh                // P2WSH: witness script is the multisig
	kindTr                 // P2TR: key path or pk/multi_a script leaves (taproot.go)
)

func (k scriptKind) String() string {
	switch k {
	case kindSh:
		return "sh"
	case kindShWsh:
		return "sh-wsh"
	case kindWsh:
		return "wsh"
	case kindTr:
		return "tr"
	}
	return "unknown"
}

func (k scriptKind) segwit() bool { return k == kindShWsh || k == kindWsh || k == kindTr }

// maxMultisigKeys is the most keys a CHECKMULTISIG takes (consensus).
const maxMultisigKeys = 20

// multisig is a parsed "m <pubkey>... n OP_CHECKMULTISIG" script.
type multisig struct {
	m    int
	keys [][]byte // in script order
}

// indexOf returns the position of pub in the script, or -1.
func (ms *multisig) indexOf(pub []byte) int {
	for i, k := range ms.keys {
		if bytes.Equal(k, pub) {
			return i
		}
	}
	return -1
}

// parseMultisig parses a bare multisig script. m and n may be small
// integers (OP_1..OP_16) or, for 17 to 20 keys, minimal one-byte pushes as
// descriptors write them.
func parseMultisig(script []byte) (*multisig, error) {
	tok := txscript.MakeScriptTokenizer(0, script)
	if !tok.Next() {
		return nil, errors.New("not a multisig script: it is empty or cannot be parsed")
	}
	m, ok := scriptNumber(tok.Opcode(), tok.Data())
	if !ok {
		return nil, errors.New("not a multisig script: it does not start with a threshold from 1 to 20")
	}
	ms := &multisig{m: m}
	for tok.Next() {
		op := tok.Opcode()
		if op != txscript.OP_DATA_33 && op != txscript.OP_DATA_65 {
			break
		}
		// Only the encoding is checked here: decompressing every key costs
		// a square root, and a key off the curve cannot verify anything.
		if !pubKeyEncoding(tok.Data()) {
			return nil, fmt.Errorf("key %d of the multisig script is not a compressed (02/03) or uncompressed (04) public key", len(ms.keys))
		}
		ms.keys = append(ms.keys, tok.Data())
	}
	// The loop stopped on the first token that is not a key: the key count.
	n, ok := scriptNumber(tok.Opcode(), tok.Data())
	if tok.Err() != nil || !ok {
		return nil, errors.New("not a multisig script: expected the key count after the keys")
	}
	if !tok.Next() || tok.Opcode() != txscript.OP_CHECKMULTISIG || tok.Next() || tok.Err() != nil {
		return nil, errors.New("not a multisig script: it must end with the key count and OP_CHECKMULTISIG")
	}
	if n != len(ms.keys) || m > n {
		return nil, fmt.Errorf("multisig script says %d of %d but holds %d keys", m, n, len(ms.keys))
	}
	return ms, nil
}

// scriptNumber reads a multisig count: OP_1..OP_16, or a minimal one-byte
// push of 17 to 20.
func scriptNumber(op byte, data []byte) (int, bool) {
	switch {
	case op >= txscript.OP_1 && op <= txscript.OP_16:
		return int(op-txscript.OP_1) + 1, true
	case op == txscript.OP_DATA_1 && len(data) == 1 && data[0] > 16 && data[0] <= maxMultisigKeys:
		return int(data[0]), true
	}
	return 0, false
}

// spend is what an input's scripts say about how it is spent.
type spend struct {
	kind   scriptKind
	script []byte // the multisig: redeem script (sh) or witness script
	// ms holds the script's keys. For a miniscript (mini set) they are
	// every key the script checks, and m is what the path the
	// transaction's locks open needs (see miniscript.go).
	ms   *multisig
	mini *miniscript.Node
	tap  *tapSpend // kindTr only; script and ms are nil then
}

// resolvePrevOut returns the output an input spends, cross-checking the two
// UTXO records: a non_witness_utxo must hash to the txid the input spends,
// and a witness_utxo next to it must be the same output. Errors wrap
// ErrRefused: they mean someone supplied UTXO data that lies.
func resolvePrevOut(in *bpsbt.PInput, op wire.OutPoint, i int) (*wire.TxOut, error) {
	var fromTx *wire.TxOut
	if in.NonWitnessUtxo != nil {
		if h := in.NonWitnessUtxo.TxHash(); h != op.Hash {
			return nil, fmt.Errorf("%w: input %d: non_witness_utxo is transaction %s but the input spends %s: the UTXO data is wrong or forged; rebuild the PSBT from the wallet",
				ErrRefused, i, h, op.Hash)
		}
		if int64(op.Index) >= int64(len(in.NonWitnessUtxo.TxOut)) {
			return nil, fmt.Errorf("%w: input %d: spends output %d but non_witness_utxo %s has only %d outputs",
				ErrRefused, i, op.Index, op.Hash, len(in.NonWitnessUtxo.TxOut))
		}
		fromTx = in.NonWitnessUtxo.TxOut[op.Index]
	}
	switch {
	case fromTx != nil && in.WitnessUtxo != nil:
		if fromTx.Value != in.WitnessUtxo.Value || !bytes.Equal(fromTx.PkScript, in.WitnessUtxo.PkScript) {
			return nil, fmt.Errorf("%w: input %d: witness_utxo (%d sat, script %x) disagrees with non_witness_utxo (%d sat, script %x): one of them is forged; do not sign this PSBT",
				ErrRefused, i, in.WitnessUtxo.Value, in.WitnessUtxo.PkScript, fromTx.Value, fromTx.PkScript)
		}
		return fromTx, nil
	case fromTx != nil:
		return fromTx, nil
	case in.WitnessUtxo != nil:
		return in.WitnessUtxo, nil
	}
	return nil, fmt.Errorf("%w: input %d: no UTXO data (neither non_witness_utxo nor witness_utxo): the amount and script cannot be checked; rebuild the PSBT with `countersign spend`",
		ErrRefused, i)
}

// resolveSpend checks that the input's redeem and witness scripts are the
// ones its prevout commits to (the BIP-174 signer checks) and parses the
// multisig. Errors wrap ErrRefused.
func resolveSpend(in *bpsbt.PInput, prevOut *wire.TxOut, i int) (*spend, error) {
	pk := prevOut.PkScript
	var s spend
	switch {
	case isP2TR(pk):
		return resolveTapSpend(in, pk, i)
	case isP2SH(pk):
		if in.RedeemScript == nil {
			return nil, fmt.Errorf("%w: input %d: spends a P2SH output but carries no redeem script", ErrRefused, i)
		}
		if !bytes.Equal(btcutil.Hash160(in.RedeemScript), pk[2:22]) {
			return nil, fmt.Errorf("%w: input %d: the redeem script does not hash to the scriptPubKey %x it spends", ErrRefused, i, pk)
		}
		if isP2WSH(in.RedeemScript) {
			s.kind = kindShWsh
			if err := checkWitnessScript(in, in.RedeemScript, i); err != nil {
				return nil, err
			}
			s.script = in.WitnessScript
		} else {
			s.kind = kindSh
			if in.WitnessScript != nil {
				return nil, fmt.Errorf("%w: input %d: carries a witness script but its redeem script is not a P2WSH program", ErrRefused, i)
			}
			s.script = in.RedeemScript
		}
	case isP2WSH(pk):
		s.kind = kindWsh
		if in.RedeemScript != nil {
			return nil, fmt.Errorf("%w: input %d: carries a redeem script but spends a native P2WSH output", ErrRefused, i)
		}
		if err := checkWitnessScript(in, pk, i); err != nil {
			return nil, err
		}
		s.script = in.WitnessScript
	default:
		return nil, fmt.Errorf("%w: input %d: spends scriptPubKey %x, which is not P2SH, P2WSH or P2TR: countersign spends only sh, sh-wsh, wsh and tr multisig",
			ErrRefused, i, pk)
	}
	ms, err := parseMultisig(s.script)
	if err != nil && s.kind == kindWsh {
		node, keys, merr := decodeMiniscript(in, s.script)
		if merr != nil {
			return nil, fmt.Errorf("%w: input %d: the witness script is neither a multisig nor a sane miniscript: %v", ErrRefused, i, merr)
		}
		s.mini, s.ms = node, &multisig{keys: keys}
		return &s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: input %d: %v", ErrRefused, i, err)
	}
	s.ms = ms
	return &s, nil
}

// checkWitnessScript checks that the input's witness script is the one the
// P2WSH program commits to.
func checkWitnessScript(in *bpsbt.PInput, program []byte, i int) error {
	if in.WitnessScript == nil {
		return fmt.Errorf("%w: input %d: spends a P2WSH program but carries no witness script", ErrRefused, i)
	}
	h := sha256.Sum256(in.WitnessScript)
	if !bytes.Equal(h[:], program[2:34]) {
		return fmt.Errorf("%w: input %d: the witness script does not hash to the P2WSH program %x", ErrRefused, i, program)
	}
	return nil
}

// isP2SH matches OP_HASH160 <20 bytes> OP_EQUAL.
func isP2SH(s []byte) bool {
	return len(s) == 23 && s[0] == txscript.OP_HASH160 && s[1] == txscript.OP_DATA_20 && s[22] == txscript.OP_EQUAL
}

// isP2WSH matches OP_0 <32 bytes>.
func isP2WSH(s []byte) bool {
	return len(s) == 34 && s[0] == txscript.OP_0 && s[1] == txscript.OP_DATA_32
}

// isFinalized reports whether an input already carries its final scripts.
func isFinalized(in *bpsbt.PInput) bool {
	return in.FinalScriptSig != nil || in.FinalScriptWitness != nil
}
