package jade

import (
	"bytes"
	"testing"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/jade"
)

// BenchmarkSign50Inputs signs a 50-input 2-of-3 P2WSH PSBT behind the
// adapter, over the emulator's TCP port and over an in-memory pipe.
// Besides ns/op it reports:
//
//	psbt-bytes     the PSBT sent in one sign_psbt request
//	pieces/op      replies carrying the signed PSBT (3008-byte chunks)
//	requests/op    requests of the driver (get_registered_multisig,
//	               sign_psbt, get_extended_data)
func BenchmarkSign50Inputs(b *testing.B) {
	for _, over := range transports {
		b.Run(over, func(b *testing.B) {
			r := newRig(b, emu.Config{}, Options{}, over)
			d := newDescriptor(b, descriptor.ScriptWsh, true)
			w := wallet(d, "bench")
			s := hw.NewSigner(r.dev)
			if _, err := s.Register(testCtx(b), w); err != nil {
				b.Fatal(err)
			}
			p := buildPSBT(b, d, 50)
			var buf bytes.Buffer
			p.Serialize(&buf)
			before, reqs := r.emu.Requests()["get_extended_data"], r.dev.Stats().Requests
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Sign(testCtx(b), p, w); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(buf.Len()), "psbt-bytes")
			b.ReportMetric(float64(r.emu.Requests()["get_extended_data"]-before)/float64(b.N)+1, "pieces/op")
			b.ReportMetric(float64(r.dev.Stats().Requests-reqs)/float64(b.N), "requests/op")
		})
	}
}
