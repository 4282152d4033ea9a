package coldcard

import (
	"context"
	"testing"
	"time"

	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
)

// BenchmarkSign100Inputs signs a 100-input 2-of-3 P2WSH PSBT through the
// emulator, over the in-memory pipe and over the simulator's unix datagram
// socket. Besides ns/op it reports, per signature:
//
//	frames/op       HID reports, both directions
//	roundtrips/op   request/reply exchanges (upload blocks, sha2, stxn,
//	                stok polls, download blocks, the msck pre-check)
//	waiting-polls/op  the stok polls answered "still waiting" (1 ms apart
//	                here): they depend on the device's speed, the rest
//	                on the PSBT's size
//	psbt-bytes      size of the uploaded PSBT
//	host-ms/op      wall time minus the time the host waited for replies and
//	                between polls: the driver's own work (serialising,
//	                framing, AES, hashing, parsing and verifying the result)
//	device-ms/op    the emulator's time handling requests, reviewing the
//	                PSBT and signing
func BenchmarkSign100Inputs(b *testing.B) {
	for _, via := range []string{"pipe", "unixgram"} {
		b.Run(via, func(b *testing.B) { benchSign(b, via, 100) })
	}
}

func benchSign(b *testing.B, via string, inputs int) {
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		b.Fatal(err)
	}
	var host transport.Transport
	switch via {
	case "pipe":
		h, dev := transport.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Serve(ctx, dev) }()
		defer func() { cancel(); <-done }()
		host = h
	case "unixgram":
		path := socketPath(b)
		s := serveSocket(b, e, path)
		defer s.stop()
		if host, err = transport.DialUnixgram(path, ""); err != nil {
			b.Fatal(err)
		}
	}
	tp := &tap{Transport: host}
	ctx := context.Background()
	cc, err := Open(ctx, tp, Options{PollInterval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	w := newTestWallet(b, mnemonics...)
	if _, err := cc.Register(ctx, hwtest.Wallet(w.desc, testNet, "bench")); err != nil {
		b.Fatal(err)
	}
	p := w.buildPSBT(b, psbtSpec{inputs: inputs})
	raw, _ := serialize(p)

	st0, e0 := cc.Stats(), e.Stats()
	tp.mu.Lock()
	tp.waited = 0
	tp.mu.Unlock()
	start := time.Now()
	n := 0
	for b.Loop() {
		signed, err := hwtest.Sign(ctx, cc, p, w.desc, testNet, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if len(signed.Inputs[inputs-1].PartialSigs) != 1 {
			b.Fatal("last input not signed")
		}
		n++
	}
	wall := time.Since(start)
	st, es := cc.Stats(), e.Stats()
	tp.mu.Lock()
	blocked := tp.waited
	tp.mu.Unlock()
	per := func(v float64) float64 { return v / float64(n) }
	b.ReportMetric(per(float64(st.FramesOut-st0.FramesOut+st.FramesIn-st0.FramesIn)), "frames/op")
	b.ReportMetric(per(float64(st.RoundTrips-st0.RoundTrips)), "roundtrips/op")
	b.ReportMetric(per(float64(st.Polls-st0.Polls)), "waiting-polls/op")
	b.ReportMetric(float64(len(raw)), "psbt-bytes")
	b.ReportMetric(per(float64(wall-blocked-(st.Waited-st0.Waited)))/1e6, "host-ms/op")
	b.ReportMetric(per(float64(es.Busy-e0.Busy))/1e6, "device-ms/op")
}
