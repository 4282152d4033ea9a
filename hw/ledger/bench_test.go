package ledger

import (
	"context"
	"testing"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
)

// TestSign50InputsAPDUs signs a 50-input 2-of-3 wsh PSBT on the emulator
// and reports the traffic: SIGN_PSBT reveals the PSBT map by map through
// client commands, so the APDU count, not the signing, is what a real
// device's USB link pays for.
func TestSign50InputsAPDUs(t *testing.T) {
	if testing.Short() {
		t.Skip("50-input signing in -short mode")
	}
	e, addr := startEmulator(t, emu.Config{})
	d := mustDial(t, addr)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	ctx := context.Background()
	if _, err := d.Register(ctx, w.desc, testNet, "fifty"); err != nil {
		t.Fatal(err)
	}
	p := w.spend(t, 50)
	before, emuBefore := d.Stats(), e.Stats()
	signed, err := d.Sign(ctx, p, w.desc, testNet, "fifty")
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, w, p, signed)
	st, es := d.Stats(), e.Stats()
	apdus := st.APDUs - before.APDUs
	t.Logf("SIGN_PSBT, 50 inputs, %d outputs: %d APDUs (%d preimages, %d Merkle proofs, %d leaf indexes, %d more-elements, %d yields), %d bytes sent, %d received",
		len(p.Outputs), apdus, st.Preimages-before.Preimages, st.Proofs-before.Proofs, st.LeafIndexes-before.LeafIndexes,
		st.MoreElements-before.MoreElements, st.Yields-before.Yields, st.BytesSent-before.BytesSent, st.BytesReceived-before.BytesReceived)
	if got := es.APDUs - emuBefore.APDUs; got != apdus {
		t.Errorf("the emulator counted %d APDUs, the driver %d", got, apdus)
	}
	if y := st.Yields - before.Yields; y != 50 {
		t.Errorf("%d signatures yielded, want 50", y)
	}
	// Every entry of every map is read once: the count grows linearly.
	if apdus > 300*50 {
		t.Errorf("%d APDUs for 50 inputs", apdus)
	}
}

func BenchmarkSign50Inputs(b *testing.B) {
	_, addr := startEmulator(b, emu.Config{})
	d := mustDial(b, addr)
	w := newTestWallet(b, descriptor.ScriptWsh, 2, true)
	ctx := context.Background()
	if _, err := d.Register(ctx, w.desc, testNet, "fifty"); err != nil {
		b.Fatal(err)
	}
	p := w.spend(b, 50)
	start := d.Stats().APDUs
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Sign(ctx, p, w.desc, testNet, "fifty"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(d.Stats().APDUs-start)/float64(b.N), "APDUs/op")
}
