package cli

import "testing"

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
