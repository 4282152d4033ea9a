package cli

import (
	"math"
	"strconv"
	"strings"
)

// parseAmount reads "0.5", "0.5btc" or "150000sat" into satoshis, exactly
// (no floating point: 0.1 BTC is 10,000,000 sat, not 9,999,999).
func parseAmount(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch {
	case strings.HasSuffix(t, "sats"):
		return parseSats(strings.TrimSuffix(t, "sats"), s)
	case strings.HasSuffix(t, "sat"):
		return parseSats(strings.TrimSuffix(t, "sat"), s)
	case strings.HasSuffix(t, "btc"):
		t = strings.TrimSuffix(t, "btc")
	}
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" {
		return 0, usagef("amount %q: expected BTC (0.5 or 0.5btc) or satoshis (150000sat)", s)
	}
	if len(frac) > 8 {
		return 0, usagef("amount %q: BTC has at most 8 decimal places", s)
	}
	frac += strings.Repeat("0", 8-len(frac))
	if whole == "" {
		whole = "0"
	}
	w, err1 := strconv.ParseUint(whole, 10, 63)
	fr, err2 := strconv.ParseUint(frac, 10, 63)
	if err1 != nil || err2 != nil || w > 21_000_000 {
		return 0, usagef("amount %q is not a valid BTC amount", s)
	}
	v := int64(w)*100_000_000 + int64(fr)
	if v <= 0 {
		return 0, usagef("amount %q must be positive", s)
	}
	return v, nil
}

func parseSats(num, orig string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v <= 0 || v > 21_000_000*100_000_000 {
		return 0, usagef("amount %q is not a positive whole number of satoshis", orig)
	}
	return v, nil
}

// parseFeeRate reads a sat/vB rate.
func parseFeeRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "sat/vb"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 1 {
		return 0, usagef("--fee-rate %q: give sat/vB, at least 1", s)
	}
	return v, nil
}
