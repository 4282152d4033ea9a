package bitbox02

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"
	"google.golang.org/protobuf/encoding/protowire"
)

// packed is a packed repeated uint32 field's bytes.
func packed(v []uint32) []byte {
	var b []byte
	for _, x := range v {
		b = protowire.AppendVarint(b, uint64(x))
	}
	return b
}

// xpubMsg is common.proto XPub.
func xpubMsg(k *hdkeychain.ExtendedKey) []byte {
	pub, _ := k.ECPubKey()
	fp := binary.BigEndian.AppendUint32(nil, k.ParentFingerprint())
	return pbuf(nil).field(1, []byte{k.Depth()}).field(2, fp).varint(3, uint64(k.ChildIndex())).field(4, k.ChainCode()).field(5, pub.SerializeCompressed())
}

// signNext decodes a BTCSignNextResponse, direct or wrapped in BTCResponse.
func signNext(t *testing.T, rsp []byte, wantWrapped bool) pmsg {
	t.Helper()
	m, err := decodeMsg(rsp)
	if err != nil {
		t.Fatal(err)
	}
	var body pmsg
	switch m.oneof() {
	case rspBTCSignNext:
		if wantWrapped {
			t.Fatal("direct response where the firmware wraps it in BTCResponse")
		}
		body, _, err = m.sub(rspBTCSignNext)
	case rspBTC:
		if !wantWrapped {
			t.Fatal("wrapped response where the firmware answers directly")
		}
		var b pmsg
		b, _, err = m.sub(rspBTC)
		if err == nil {
			body, _, err = b.sub(3)
		}
	default:
		t.Fatalf("response %x is not a BTCSignNextResponse (error %d?)", rsp, errCode(t, rsp))
	}
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func expectNext(t *testing.T, n pmsg, typ, index uint64) {
	t.Helper()
	gt, _ := n.uint(1)
	gi, _ := n.uint(2)
	if gt != typ || gi != index {
		t.Fatalf("next %d/%d, want %d/%d", gt, gi, typ, index)
	}
}

// TestSignAntiKlepto streams a 1-of-2 multisig spend through the emulator's
// API as a host that takes part in the anti-klepto protocol does (the
// vendor's bitbox02-api-go BTCSign, and signtx.rs's protocol): in the
// second pass the input carries a host nonce commitment, the device answers
// HOST_NONCE with its nonce commitment, the host sends its nonce in a
// BTCRequest, and the signature arrives with the next (wrapped) response.
// Without a commitment the signature is the firmware's zero-contract one.
func TestSignAntiKlepto(t *testing.T) {
	for _, c := range []struct {
		name      string
		hostNonce []byte // nil: no anti-klepto
		badCommit bool
	}{
		{name: "anti-klepto", hostNonce: bytes.Repeat([]byte{0x42}, 32)},
		{name: "no host nonce"},
		{name: "short commitment", hostNonce: bytes.Repeat([]byte{0x42}, 32), badCommit: true},
	} {
		t.Run(c.name, func(t *testing.T) { runAntiKlepto(t, c.hostNonce, c.badCommit) })
	}
}

func runAntiKlepto(t *testing.T, hostNonce []byte, badCommit bool) {
	ctx := context.Background()
	e := newTestEmulator(t, Config{})
	account := []uint32{48 + hdkeychain.HardenedKeyStart, 1 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 2 + hdkeychain.HardenedKeyStart}
	derive := func(k *hdkeychain.ExtendedKey, path ...uint32) *hdkeychain.ExtendedKey {
		for _, c := range path {
			var err error
			if k, err = k.Derive(c); err != nil {
				t.Fatal(err)
			}
		}
		return k
	}
	ourMaster, _ := hdkeychain.NewMaster(bip39.NewSeed(testWords, ""), &chaincfg.TestNet3Params)
	other := sha256.Sum256([]byte("cosigner"))
	otherMaster, _ := hdkeychain.NewMaster(other[:], &chaincfg.TestNet3Params)
	ourAcct, otherAcct := derive(ourMaster, account...), derive(otherMaster, account...)
	ourPub, _ := ourAcct.Neuter()
	otherPub, _ := otherAcct.Neuter()

	ms := pbuf(nil).varint(1, 1).field(2, xpubMsg(ourPub)).field(2, xpubMsg(otherPub))
	cfg := pbuf(nil).field(2, ms)
	// Register it as BTCRegisterScriptConfig would.
	reg := pbuf(nil).field(1, pbuf(nil).varint(1, coinTBTC).field(2, cfg).field(3, packed(account))).field(2, []byte("ak"))
	if rsp := e.api(ctx, pbuf(nil).field(25, pbuf(nil).field(2, reg))); errCode(t, rsp) != 0 {
		t.Fatalf("register: error %d", errCode(t, rsp))
	}

	// The wallet's receive 0 script, computed with btcd.
	var pubs [][]byte
	for _, k := range []*hdkeychain.ExtendedKey{ourPub, otherPub} {
		p, _ := derive(k, 0, 0).ECPubKey()
		pubs = append(pubs, p.SerializeCompressed())
	}
	if bytes.Compare(pubs[0], pubs[1]) > 0 {
		pubs[0], pubs[1] = pubs[1], pubs[0]
	}
	ws, _ := txscript.NewScriptBuilder().AddInt64(1).AddData(pubs[0]).AddData(pubs[1]).AddInt64(2).AddOp(txscript.OP_CHECKMULTISIG).Script()
	wsh := sha256.Sum256(ws)
	pkScript := append([]byte{0, 32}, wsh[:]...)

	prev := wire.NewMsgTx(1)
	prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 7}, Sequence: 0xffffffff})
	prev.AddTxOut(wire.NewTxOut(50_000, pkScript))
	spend := wire.NewMsgTx(2)
	spend.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: 0}, Sequence: 0xfffffffd})
	extScript := append([]byte{0, 20}, bytes.Repeat([]byte{9}, 20)...)
	spend.AddTxOut(wire.NewTxOut(49_000, extScript))

	prevHash := prev.TxHash()
	input := func(commitment []byte) []byte {
		in := pbuf(nil).field(1, prevHash[:]).varint(3, 50_000).varint(4, 0xfffffffd).field(6, packed(append(account, 0, 0)))
		if commitment != nil {
			in = in.field(8, pbuf(nil).field(1, commitment))
		}
		return pbuf(nil).field(10, in)
	}
	init := pbuf(nil).varint(1, coinTBTC).field(2, pbuf(nil).field(2, cfg).field(3, packed(account))).varint(4, 2).varint(5, 1).varint(6, 1)
	expectNext(t, signNext(t, e.api(ctx, pbuf(nil).field(9, init)), false), nextInput, 0)
	expectNext(t, signNext(t, e.api(ctx, input(nil)), false), nextPrevTxInit, 0)
	btc := func(member int, body []byte) []byte { return pbuf(nil).field(25, pbuf(nil).field(member, body)) }
	expectNext(t, signNext(t, e.api(ctx, btc(3, pbuf(nil).varint(1, 1).varint(2, 1).varint(3, 1))), true), nextPrevTxInput, 0)
	expectNext(t, signNext(t, e.api(ctx, btc(4, pbuf(nil).field(1, make([]byte, 32)).varint(2, 7).varint(4, 0xffffffff))), true), nextPrevTxOutput, 0)
	expectNext(t, signNext(t, e.api(ctx, btc(5, pbuf(nil).varint(1, 50_000).field(2, pkScript))), true), nextOutput, 0)
	out := pbuf(nil).varint(2, 3).varint(3, 49_000).field(4, bytes.Repeat([]byte{9}, 20))
	expectNext(t, signNext(t, e.api(ctx, pbuf(nil).field(11, out)), false), nextInput, 0)

	fetcher := txscript.NewCannedPrevOutputFetcher(pkScript, 50_000)
	digest, err := txscript.CalcWitnessSigHash(ws, txscript.NewTxSigHashes(spend, fetcher), txscript.SigHashAll, spend, 0, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := derive(ourAcct, 0, 0).ECPrivKey()

	var final pmsg
	if hostNonce == nil {
		final = signNext(t, e.api(ctx, input(nil)), false)
	} else {
		hc := hostNonceCommitment(hostNonce)
		commitment := hc[:]
		if badCommit {
			commitment = commitment[:31]
		}
		rsp := e.api(ctx, input(commitment))
		if badCommit {
			if got := errCode(t, rsp); got != 101 {
				t.Fatalf("a 31-byte commitment: error %d, want 101", got)
			}
			return
		}
		n := signNext(t, rsp, false)
		expectNext(t, n, nextHostNonce, 0)
		if has, _ := n.flag(3); has {
			t.Fatal("a signature before the host nonce")
		}
		sc, ok, err := n.sub(6)
		if err != nil || !ok {
			t.Fatal("HOST_NONCE without the signer commitment")
		}
		signerCommit, _ := sc.bytes(1)
		final = signNext(t, e.api(ctx, btc(7, pbuf(nil).field(1, hostNonce))), true)
		defer func() {
			var sig [64]byte
			s, _ := final.bytes(4)
			copy(sig[:], s)
			hostVerify(t, priv.PubKey(), digest, hostNonce, signerCommit, sig)
		}()
	}
	expectNext(t, final, nextDone, 0)
	if has, _ := final.flag(3); !has {
		t.Fatal("DONE without the signature")
	}
	sig, _ := final.bytes(4)
	if hostNonce == nil {
		want := s2cSign(priv, digest, make([]byte, 32))
		if !bytes.Equal(sig, want[:]) {
			t.Fatalf("signature %x, want the zero-contract signature %x", sig, want)
		}
	}
}
