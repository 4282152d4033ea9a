package chain

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

func TestParamsForChain(t *testing.T) {
	for name, want := range map[string]*chaincfg.Params{
		"main": &chaincfg.MainNetParams, "mainnet": &chaincfg.MainNetParams,
		"test": &chaincfg.TestNet3Params, "testnet3": &chaincfg.TestNet3Params,
		"signet": &chaincfg.SigNetParams, "regtest": &chaincfg.RegressionNetParams,
	} {
		if got, err := paramsForChain(kindCore, name); err != nil || got != want {
			t.Errorf("paramsForChain(%q) = %v, %v", name, got, err)
		}
	}
	for _, name := range []string{"testnet4", "liquidv1", ""} {
		if _, err := paramsForChain(kindCore, name); !errors.Is(err, ErrUnsupported) {
			t.Errorf("paramsForChain(%q) = %v, want ErrUnsupported", name, err)
		}
	}
	for _, p := range knownNetworks() {
		if got, err := paramsForGenesis(kindEsplora, *p.GenesisHash); err != nil || got != p {
			t.Errorf("paramsForGenesis(%s) = %v, %v", p.Name, got, err)
		}
	}
}

func TestParseBTC(t *testing.T) {
	ok := map[string]int64{
		"0": 0, "0.00000001": 1, "1e-05": 1000, "0.00100000": 100_000, "21000000": maxSats,
		"20999999.99999999": maxSats - 1, "50.00000000": 5_000_000_000,
	}
	for in, want := range ok {
		if got, err := parseBTC(in); err != nil || got != want {
			t.Errorf("parseBTC(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0.000000001", "-1", "21000000.00000001", "1e999999999", "abc", "", "1/3"} {
		if got, err := parseBTC(in); err == nil {
			t.Errorf("parseBTC(%q) = %d, want an error", in, got)
		}
	}
}

func TestFeeRateConversion(t *testing.T) {
	for btcPerKB, want := range map[float64]float64{0.00001: 1, 0.00012: 12, 0.000015: 1.5, 0.001: 100} {
		if got := btcPerKBToSatPerVB(btcPerKB); got != want {
			t.Errorf("btcPerKBToSatPerVB(%v) = %v, want %v", btcPerKB, got, want)
		}
	}
}
