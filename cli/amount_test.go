package cli

import (
	"fmt"
	"testing"
)

func TestParseAmount(t *testing.T) {
	good := map[string]int64{
		"0.5": 50_000_000, "0.5btc": 50_000_000, "1": 100_000_000, "0.1": 10_000_000,
		"150000sat": 150_000, "150000 sats": 150_000, ".00000001": 1, "21000000": 21_000_000 * 100_000_000,
		"0.12345678BTC": 12_345_678,
	}
	for in, want := range good {
		got, err := parseAmount(in)
		if err != nil || got != want {
			t.Errorf("parseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "0.123456789", "abc", "1e3", "21000001", "1.5sat", "0sat", "btc"} {
		if v, err := parseAmount(in); err == nil {
			t.Errorf("parseAmount(%q) = %d, want an error", in, v)
		}
	}
}

// FuzzParseAmount: any input either fails or gives a positive amount that
// prints back to the same number of satoshis.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0.5", "150000sat", "0.00000001btc", "21000000", "1e3", "-1", ".5", "0.123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseAmount(s)
		if err != nil {
			return
		}
		if v <= 0 || v > 21_000_000*100_000_000 {
			t.Fatalf("parseAmount(%q) = %d, outside (0, 21e14]", s, v)
		}
		back, err := parseAmount(fmt.Sprintf("%dsat", v))
		if err != nil || back != v {
			t.Fatalf("round trip of %d sat: %d, %v", v, back, err)
		}
	})
}
