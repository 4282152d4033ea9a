package trezor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// tamper sits between the driver and the emulator and rewrites TxAck
// messages on their way to the device, as malware on the host could: the
// emulator's own checks must catch it.
type tamper struct {
	transport.Transport
	mu   sync.Mutex
	asm  tp.Assembler
	held [][]byte
	n    int // TxAcks seen
	edit func(n int, ack *tp.TxAck)
}

func (x *tamper) Write(ctx context.Context, r []byte) error {
	x.mu.Lock()
	typ, payload, done, err := x.asm.Add(r)
	if err != nil || typ != tp.TypeTxAck && done {
		held := append(x.held, r)
		x.held = nil
		x.mu.Unlock()
		for _, h := range held {
			if err := x.Transport.Write(ctx, h); err != nil {
				return err
			}
		}
		return nil
	}
	if !done {
		x.held = append(x.held, r)
		x.mu.Unlock()
		return nil
	}
	x.held = nil
	var ack tp.TxAck
	if err := ack.Unmarshal(payload); err != nil {
		x.mu.Unlock()
		return err
	}
	x.n++
	x.edit(x.n, &ack)
	x.mu.Unlock()
	rs, err := tp.EncodeReports(tp.TypeTxAck, ack.Marshal())
	if err != nil {
		return err
	}
	for _, rr := range rs {
		if err := x.Transport.Write(ctx, rr); err != nil {
			return err
		}
	}
	return nil
}

// tamperRig connects the driver to a fresh emulator through edit.
func tamperRig(t *testing.T, edit func(n int, ack *tp.TxAck)) (*Trezor, *emu.Emulator) {
	t.Helper()
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		t.Fatal(err)
	}
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, dev) }()
	t.Cleanup(func() { cancel(); <-done })
	octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ocancel()
	z, err := Open(octx, &tamper{Transport: host, edit: edit}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z, e
}

func TestEmulatorCatchesTamperedData(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(n int, ack *tp.TxAck)
		want string
	}{
		{"previous output script", func(_ int, a *tp.TxAck) {
			if len(a.Tx.BinOutputs) == 1 {
				a.Tx.BinOutputs[0].ScriptPubkey = append(a.Tx.BinOutputs[0].ScriptPubkey, 0x51)
			}
		}, "Encountered invalid prev_hash"},
		{"input amount", func(_ int, a *tp.TxAck) {
			if len(a.Tx.Inputs) == 1 && a.Tx.Inputs[0].Amount != nil {
				*a.Tx.Inputs[0].Amount += 1000 // hide part of the fee
			}
		}, "Invalid amount specified"},
		{"input changed between passes", func(n int, a *tp.TxAck) {
			// The first two acks are inputs 0 and 1 of the first pass.
			if n > 2 && len(a.Tx.Inputs) == 1 && a.Tx.Inputs[0].Multisig != nil {
				a.Tx.Inputs[0].Sequence = tp.U32(1)
			}
		}, "Transaction has changed during signing"},
		{"forbidden key path", func(_ int, a *tp.TxAck) {
			if len(a.Tx.Inputs) == 1 && a.Tx.Inputs[0].Multisig != nil {
				a.Tx.Inputs[0].AddressN[3] = 0x80000000 + 7
			}
		}, "Forbidden key path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, _ := tamperRig(t, tc.edit)
			w := newTestWallet(t, descriptor.ScriptWsh, true)
			_, err := hwtest.Sign(testCtx(t), z, w.buildPSBT(t, 2, 0), w.desc, testNet, "x")
			if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a device error with %q", err, tc.want)
			}
		})
	}
}

// TestEmulatorShowsForeignChange: an output claimed as change but described
// with another wallet's keys is not change for the device: it is shown. The
// signatures it then makes are for that other transaction, and the driver
// refuses them.
func TestEmulatorShowsForeignChange(t *testing.T) {
	other := newCosigner(t, "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong", accountPath(descriptor.ScriptWsh))
	z, e := tamperRig(t, func(_ int, a *tp.TxAck) {
		if len(a.Tx.Outputs) == 1 && a.Tx.Outputs[0].Multisig != nil {
			ms := a.Tx.Outputs[0].Multisig
			for i := range ms.Pubkeys {
				pub, _ := other.account.ECPubKey()
				if string(ms.Pubkeys[i].Node.PublicKey) != string(mustPub(t, newCosigner(t, mnemonics[0], accountPath(descriptor.ScriptWsh)))) {
					ms.Pubkeys[i].Node.PublicKey = pub.SerializeCompressed()
					ms.Pubkeys[i].Node.ChainCode = other.account.ChainCode()
					break
				}
			}
		}
	})
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	// The device signs what it was shown, which is not the PSBT's
	// transaction: the driver's own check refuses the signatures.
	_, err := hwtest.Sign(testCtx(t), z, w.buildPSBT(t, 2, 0), w.desc, testNet, "x")
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("err = %v, want the driver to refuse the signatures", err)
	}
	outputs := 0
	for _, s := range e.Screens() {
		if s.Kind == "output" {
			outputs++
		}
	}
	if outputs != 2 {
		t.Fatalf("%d outputs shown, want 2 (the payment and the foreign 'change')", outputs)
	}
}

func mustPub(t *testing.T, c cosigner) []byte {
	t.Helper()
	p, err := c.account.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	return p.SerializeCompressed()
}
