package trezor

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

const abandon = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// host is a minimal protocol client for the tests: raw messages over the
// in-memory pipe, or over UDP.
type host struct {
	t  *testing.T
	tr transport.Transport
}

func start(t *testing.T, cfg Config) (*Emulator, *host) {
	t.Helper()
	if cfg.Mnemonic == "" {
		cfg.Mnemonic = abandon
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, dev) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e, &host{t: t, tr: h}
}

func (h *host) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *host) send(m tp.Message) {
	h.t.Helper()
	rs, err := tp.EncodeReports(m.Type(), m.Marshal())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rs {
		if err := h.tr.Write(h.ctx(), r); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *host) recv(dst tp.Message) {
	h.t.Helper()
	var a tp.Assembler
	for {
		r, err := h.tr.Read(h.ctx())
		if err != nil {
			h.t.Fatal(err)
		}
		typ, payload, done, err := a.Add(r)
		if err != nil {
			h.t.Fatal(err)
		}
		if !done {
			continue
		}
		if typ != dst.Type() {
			f := &tp.Failure{}
			if typ == tp.TypeFailure {
				_ = f.Unmarshal(payload)
			}
			h.t.Fatalf("got %v (%+v), want %v", typ, f, dst.Type())
		}
		if err := dst.Unmarshal(payload); err != nil {
			h.t.Fatal(err)
		}
		return
	}
}

func (h *host) failure(code uint32, text string) {
	h.t.Helper()
	var f tp.Failure
	h.recv(&f)
	if f.Code != code || text != "" && f.Message != text {
		h.t.Fatalf("Failure %d %q, want %d %q", f.Code, f.Message, code, text)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Mnemonic: "abandon abandon"},
		{Mnemonic: abandon, PIN: "1230"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestPingOverUDP(t *testing.T) {
	e, err := New(Config{Mnemonic: abandon})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, srv) }()
	defer func() { cancel(); <-done }()
	u, err := transport.DialUDP(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	h := &host{t: t, tr: u}
	if err := u.Write(h.ctx(), []byte("PINGPING")); err != nil {
		t.Fatal(err)
	}
	r, err := u.Read(h.ctx())
	if err != nil || string(r) != "PONGPONG" {
		t.Fatalf("ping answer %q, %v", r, err)
	}
	h.send(&tp.Initialize{})
	var f tp.Features
	h.recv(&f)
	if f.Vendor != "trezor.io" || f.Model != "T" || !f.Initialized {
		t.Fatalf("%+v", f)
	}
}

func TestFeaturesAndSessions(t *testing.T) {
	_, h := start(t, Config{Label: "L", DeviceID: "ID1"})
	h.send(&tp.Initialize{})
	var f tp.Features
	h.recv(&f)
	if f.Label != "L" || f.DeviceID != "ID1" || f.MajorVersion != 2 || len(f.SessionID) != 32 || f.BootloaderMode {
		t.Fatalf("%+v", f)
	}
	id := f.SessionID
	h.send(&tp.Initialize{SessionID: id})
	h.recv(&f)
	if !bytes.Equal(f.SessionID, id) {
		t.Fatal("session not resumed")
	}
	h.send(&tp.Initialize{})
	h.recv(&f)
	if bytes.Equal(f.SessionID, id) {
		t.Fatal("a new session kept the old id")
	}
	h.send(&tp.GetFeatures{})
	h.recv(&f)
}

func TestUnexpectedAndMalformed(t *testing.T) {
	_, h := start(t, Config{})
	// Garbage reports are dropped; the next message is answered.
	for _, r := range [][]byte{[]byte("xyz"), append([]byte("?#!"), make([]byte, 61)...)} {
		if err := h.tr.Write(h.ctx(), r); err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := tp.EncodeReports(999, nil)
	h.tr.Write(h.ctx(), rs[0])
	h.failure(tp.FailureUnexpectedMessage, "Unexpected message")
	h.send(&tp.ButtonAck{})
	h.failure(tp.FailureUnexpectedMessage, "")
	h.send(&tp.GetPublicKey{AddressN: []uint32{1}, CoinName: "Dogecoin"})
	h.failure(tp.FailureDataError, "Invalid coin name")
}

func TestGetPublicKeyRootFingerprint(t *testing.T) {
	_, h := start(t, Config{})
	h.send(&tp.GetPublicKey{AddressN: []uint32{hdkeychain.HardenedKeyStart}})
	var pk tp.PublicKey
	h.recv(&pk)
	master, _ := hdkeychain.NewMaster(bip39.NewSeed(abandon, ""), &chaincfg.MainNetParams)
	pub, _ := master.ECPubKey()
	want := binary.BigEndian.Uint32(btcutil.Hash160(pub.SerializeCompressed())[:4])
	if pk.RootFingerprint == nil || *pk.RootFingerprint != want || pk.Node.Fingerprint != want || pk.Node.Depth != 1 {
		t.Fatalf("%+v, want fingerprint %08x", pk, want)
	}
	// SLIP-132 magic for segwit script types, unless ignored.
	h.send(&tp.GetPublicKey{AddressN: []uint32{84 + hdkeychain.HardenedKeyStart}, ScriptType: tp.U32(tp.SpendWitness)})
	h.recv(&pk)
	if pk.Xpub[:4] != "zpub" {
		t.Fatalf("xpub %s", pk.Xpub)
	}
	h.send(&tp.GetPublicKey{AddressN: []uint32{84 + hdkeychain.HardenedKeyStart}, CoinName: "Testnet", ScriptType: tp.U32(tp.SpendWitness), IgnoreXpubMagic: true})
	h.recv(&pk)
	if pk.Xpub[:4] != "tpub" {
		t.Fatalf("xpub %s", pk.Xpub)
	}
}

// TestSingleKeyAddress checks the BIP-84 test vector address.
func TestSingleKeyAddress(t *testing.T) {
	_, h := start(t, Config{})
	const hk = hdkeychain.HardenedKeyStart
	h.send(&tp.GetAddress{AddressN: []uint32{84 + hk, 0 + hk, 0 + hk, 0, 0}, ScriptType: tp.SpendWitness})
	var a tp.Address
	h.recv(&a)
	if a.Address != "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu" {
		t.Fatalf("address %s", a.Address)
	}
}

func TestMultisigAddressChecks(t *testing.T) {
	_, h := start(t, Config{})
	const hk = hdkeychain.HardenedKeyStart
	other, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.MainNetParams)
	otherPub, _ := other.Neuter()
	p, _ := otherPub.ECPubKey()
	node := tp.HDNodeType{ChainCode: otherPub.ChainCode(), PublicKey: p.SerializeCompressed()}
	ms := &tp.MultisigRedeemScriptType{Pubkeys: []tp.HDNodePathType{{Node: node, AddressN: []uint32{0, 0}}}, M: 1}
	h.send(&tp.GetAddress{AddressN: []uint32{48 + hk, 1 + hk, 0 + hk, 2 + hk, 0, 0}, CoinName: "Testnet", Multisig: ms, ScriptType: tp.SpendWitness})
	h.failure(tp.FailureDataError, "Pubkey not found in multisig script")
	h.send(&tp.GetAddress{AddressN: []uint32{44 + hk, 1 + hk, 0 + hk, 0, 0}, CoinName: "Testnet", Multisig: ms, ScriptType: tp.SpendWitness})
	h.failure(tp.FailureDataError, "Forbidden key path")
}

func TestInitializeAbortsWorkflow(t *testing.T) {
	e, h := start(t, Config{Approve: func(ctx context.Context, s Screen) bool { <-ctx.Done(); return false }})
	const hk = hdkeychain.HardenedKeyStart
	h.send(&tp.GetAddress{AddressN: []uint32{84 + hk, 0 + hk, 0 + hk, 0, 0}, ScriptType: tp.SpendWitness, ShowDisplay: true})
	h.recv(&tp.ButtonRequest{})
	h.send(&tp.ButtonAck{})
	h.send(&tp.Initialize{})
	h.recv(&tp.Features{})
	// Cancel while the screen waits.
	h.send(&tp.GetAddress{AddressN: []uint32{84 + hk, 0 + hk, 0 + hk, 0, 0}, ScriptType: tp.SpendWitness, ShowDisplay: true})
	h.recv(&tp.ButtonRequest{})
	h.send(&tp.ButtonAck{})
	h.send(&tp.Cancel{})
	h.failure(tp.FailureActionCancelled, "Cancelled")
	if n := len(e.Screens()); n != 2 {
		t.Fatalf("%d screens", n)
	}
}

func TestPINMatrix(t *testing.T) {
	e, h := start(t, Config{PIN: "2580"[:3]})
	h.send(&tp.GetPublicKey{AddressN: []uint32{1}})
	var pr tp.PinMatrixRequest
	h.recv(&pr)
	m := e.PinMatrix()
	if len(m) != 9 || pr.Kind != tp.PinMatrixRequestCurrent {
		t.Fatalf("matrix %q kind %d", m, pr.Kind)
	}
	var pos []byte
	for _, d := range []byte("258") {
		pos = append(pos, byte('1'+bytes.IndexByte([]byte(m), d)))
	}
	h.send(&tp.PinMatrixAck{Pin: string(pos)})
	h.recv(&tp.PublicKey{})
	if e.PinMatrix() != "" {
		t.Fatal("matrix still on screen")
	}
	e.Lock()
	h.send(&tp.GetPublicKey{AddressN: []uint32{1}})
	h.recv(&pr)
	h.send(&tp.PinMatrixAck{Pin: "0"})
	h.failure(tp.FailurePinInvalid, "PIN invalid")
	h.send(&tp.GetPublicKey{AddressN: []uint32{1}})
	h.recv(&pr)
	h.send(&tp.Cancel{})
	h.failure(tp.FailurePinCancelled, "")
}

func TestBootloaderAnswers(t *testing.T) {
	_, h := start(t, Config{Bootloader: true})
	h.send(&tp.Initialize{})
	var f tp.Features
	h.recv(&f)
	if !f.BootloaderMode || f.FwMajor != 2 {
		t.Fatalf("%+v", f)
	}
	h.send(&tp.GetPublicKey{})
	h.failure(tp.FailureUnexpectedMessage, "")
}
