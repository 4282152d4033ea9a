package chain

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// testnet4Genesis is the genesis block hash of testnet4 (BIP-94), which the
// pinned chaincfg predates.
const testnet4Genesis = "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"

// knownNetworks are the networks countersign can serve.
func knownNetworks() []*chaincfg.Params {
	return []*chaincfg.Params{
		&chaincfg.MainNetParams,
		&chaincfg.TestNet3Params,
		&chaincfg.SigNetParams,
		&chaincfg.RegressionNetParams,
		&chaincfg.SimNetParams,
	}
}

// paramsForChain maps the chain name a node reports (Core's "main", "test",
// "signet", "regtest", "testnet4"; btcd's "mainnet", "testnet3", ...) to
// its parameters.
func paramsForChain(k kind, name string) (*chaincfg.Params, error) {
	switch name {
	case "main", "mainnet":
		return &chaincfg.MainNetParams, nil
	case "test", "testnet", "testnet3":
		return &chaincfg.TestNet3Params, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "simnet":
		return &chaincfg.SimNetParams, nil
	case "testnet4":
		return nil, fmt.Errorf("%w: the %s node is on testnet4, which this countersign does not support; use testnet3, signet or regtest",
			ErrUnsupported, k)
	}
	return nil, fmt.Errorf("%w: the %s node reports an unknown chain %q", ErrUnsupported, k, name)
}

// paramsForGenesis maps a genesis block hash to its network. Every signet
// shares one genesis block, so custom signets map to signet.
func paramsForGenesis(k kind, genesis chainhash.Hash) (*chaincfg.Params, error) {
	for _, p := range knownNetworks() {
		if p.GenesisHash.IsEqual(&genesis) {
			return p, nil
		}
	}
	if genesis.String() == testnet4Genesis {
		return paramsForChain(k, "testnet4")
	}
	return nil, fmt.Errorf("%w: the %s backend's genesis block %s belongs to no known network", ErrUnsupported, k, genesis)
}

// satsPerBTC is the number of satoshis in one bitcoin.
const satsPerBTC = 100_000_000

// maxSats is the 21 million BTC supply cap in satoshis.
const maxSats = 21_000_000 * satsPerBTC

// parseBTC converts a JSON number of bitcoins ("0.00100000", "1e-05") to
// satoshis exactly, without going through a float.
func parseBTC(num string) (int64, error) {
	// big.Rat would expand an exponent like 1e999999999 digit by digit;
	// no amount needs more than a few.
	if len(num) > 40 {
		return 0, fmt.Errorf("chain: %q is not an amount", num)
	}
	if i := strings.IndexAny(num, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(num[i+1:]); err != nil || exp < -30 || exp > 30 {
			return 0, fmt.Errorf("chain: %q is not an amount", num)
		}
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("chain: %q is not an amount", num)
	}
	r.Mul(r, big.NewRat(satsPerBTC, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("chain: amount %s BTC has more than 8 decimals", num)
	}
	sats := r.Num()
	if sats.Sign() < 0 || sats.Cmp(big.NewInt(maxSats)) > 0 {
		return 0, fmt.Errorf("chain: amount %s BTC is out of range", num)
	}
	return sats.Int64(), nil
}

// btcPerKBToSatPerVB converts a node's BTC/kvB fee rate to sat/vB. Nodes
// compute rates in whole sat/kvB, so rounding there first undoes the
// float error of the decimal BTC (0.00001 BTC/kvB is exactly 1 sat/vB).
func btcPerKBToSatPerVB(rate float64) float64 {
	return math.Round(rate*satsPerBTC) / 1000
}
