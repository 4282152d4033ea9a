package file_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

const hard = hdkeychain.HardenedKeyStart

var regtest = &chaincfg.RegressionNetParams

// testWallet is a 2-of-3 wsh(sortedmulti) whose three master keys the test
// holds: keys[0] plays the air-gapped device.
type testWallet struct {
	keys []*hdkeychain.ExtendedKey
	d    *descriptor.Descriptor
}

func newTestWallet(t *testing.T) *testWallet {
	t.Helper()
	w := &testWallet{}
	var exprs []string
	for i := range 3 {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		m, err := hdkeychain.NewMaster(seed, regtest)
		if err != nil {
			t.Fatal(err)
		}
		acct := m
		for _, s := range []uint32{48 + hard, 1 + hard, 0 + hard, 2 + hard} {
			if acct, err = acct.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		xpub, _ := acct.Neuter()
		pub, _ := m.ECPubKey()
		fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
		w.keys = append(w.keys, m)
		exprs = append(exprs, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, xpub))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(exprs, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	w.d = d
	return w
}

// psbt spends one coin of value at receive index 0, paying pay sats to an
// outside script and the rest less 1000 sats of fee to change index 0. It
// returns the PSBT and the previous transaction.
func (w *testWallet) psbt(t *testing.T, value, pay int64) (*bpsbt.Packet, *wire.MsgTx) {
	t.Helper()
	recv, err := w.d.Derive(0, 0, regtest)
	if err != nil {
		t.Fatal(err)
	}
	change, err := w.d.Derive(1, 0, regtest)
	if err != nil {
		t.Fatal(err)
	}
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 3}, nil, nil))
	prev.AddTxOut(wire.NewTxOut(value, recv.ScriptPubKey))

	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 0}, nil, nil)
	in.Sequence = wire.MaxTxInSequenceNum - 2
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(pay, append([]byte{txscript.OP_0, 32}, make([]byte, 32)...)))
	tx.AddTxOut(wire.NewTxOut(value-pay-1000, change.ScriptPubKey))

	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	p.Inputs[0].NonWitnessUtxo = prev
	p.Inputs[0].WitnessUtxo = prev.TxOut[0]
	p.Inputs[0].WitnessScript = recv.WitnessScript
	p.Inputs[0].Bip32Derivation = derivations(recv)
	p.Outputs[1].WitnessScript = change.WitnessScript
	p.Outputs[1].Bip32Derivation = derivations(change)
	return p, prev
}

func derivations(d *descriptor.Derived) []*bpsbt.Bip32Derivation {
	var out []*bpsbt.Bip32Derivation
	for _, k := range d.Keys {
		out = append(out, &bpsbt.Bip32Derivation{
			PubKey:               k.PubKey,
			MasterKeyFingerprint: binary.LittleEndian.Uint32(k.Fingerprint[:]),
			Bip32Path:            k.Path,
		})
	}
	return out
}

// sign signs p in place with key k of the wallet, as psbt.Sign does for
// any software signer.
func (w *testWallet) sign(t *testing.T, p *bpsbt.Packet, k int) {
	t.Helper()
	n, err := psbt.Sign(p, w.keys[k])
	if err != nil || n != 1 {
		t.Fatalf("psbt.Sign with key %d: %d signatures, %v", k, n, err)
	}
}

// execute finalizes p and runs its input through btcd's script engine.
func execute(t *testing.T, p *bpsbt.Packet, prev *wire.MsgTx) *wire.MsgTx {
	t.Helper()
	if err := bpsbt.MaybeFinalizeAll(p); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	tx, err := bpsbt.Extract(p)
	if err != nil {
		t.Fatal(err)
	}
	out := prev.TxOut[0]
	fetcher := txscript.NewCannedPrevOutputFetcher(out.PkScript, out.Value)
	vm, err := txscript.NewEngine(out.PkScript, tx, 0, txscript.StandardVerifyFlags, nil,
		txscript.NewTxSigHashes(tx, fetcher), out.Value, fetcher)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Execute(); err != nil {
		t.Fatalf("the signed transaction does not verify: %v", err)
	}
	return tx
}

func sigCount(p *bpsbt.Packet) int {
	n := 0
	for _, in := range p.Inputs {
		n += len(in.PartialSigs)
	}
	return n
}

// unsignedOnCard waits for the single NAME.psbt Sign put into dir, as a
// user browsing the card would see it, and returns its name.
func unsignedOnCard(dir string, done <-chan struct{}) (string, bool) {
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			n := e.Name()
			if strings.HasSuffix(n, ".psbt") && !strings.HasPrefix(n, ".") && !strings.Contains(n, "-part") && !strings.Contains(n, "-signed") {
				return n, true
			}
		}
		select {
		case <-done:
			return "", false
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// coldcardName is what Coldcard's firmware (shared/auth.py) names its
// output for input file fn: BASE-part.psbt while incomplete, else
// BASE-signed.psbt.
func coldcardName(fn string, complete bool) string {
	base := strings.TrimSuffix(fn, ".psbt")
	if complete {
		return base + "-signed.psbt"
	}
	return strings.ReplaceAll(base, "-part", "") + "-part.psbt"
}

// txHex is tx in hex, the way Coldcard writes a .txn file.
func txHex(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return []byte(hex.EncodeToString(b.Bytes()) + "\n")
}

// signedBy reports whether input 0 of p carries a signature of key k.
func (w *testWallet) signedBy(p *bpsbt.Packet, k int) bool {
	pub, _ := w.keys[k].ECPubKey()
	fp := binary.LittleEndian.Uint32(btcutil.Hash160(pub.SerializeCompressed())[:4])
	for _, d := range p.Inputs[0].Bip32Derivation {
		if d.MasterKeyFingerprint != fp {
			continue
		}
		for _, s := range p.Inputs[0].PartialSigs {
			if bytes.Equal(s.PubKey, d.PubKey) {
				return true
			}
		}
	}
	return false
}

func mustWrite(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Error(err)
	}
}
