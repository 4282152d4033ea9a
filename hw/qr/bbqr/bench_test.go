package bbqr

import "testing"

// BenchmarkSplitZ splits the reference 35 kB PSBT (1 input, 1000 outputs)
// with compression, the default.
func BenchmarkSplitZ(b *testing.B) {
	data := readVector(b, "1in1000out.psbt")
	for b.Loop() {
		if _, _, err := Split(data, FileTypePSBT, SplitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJoinZ(b *testing.B) {
	parts, _, err := Split(readVector(b, "1in1000out.psbt"), FileTypePSBT, SplitOptions{MaxVersion: 20})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := Join(parts); err != nil {
			b.Fatal(err)
		}
	}
}
