package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
)

// EnvFaucetURL names the variable that tells the faucet client where the
// faucet listens.
const EnvFaucetURL = "COUNTERSIGN_FAUCET_URL"

// faucetUsage is the client's help text; scripts call it as `faucet`.
const faucetUsage = `usage: faucet fund ADDRESS AMOUNT   pay AMOUNT (0.5, 0.5btc or 50000sat) to ADDRESS
       faucet mine [N]              mine N blocks (default 1), confirming what is waiting
       faucet address               print a new address of a stranger (nobody here holds its key)
The regtest playground's faucet: coins and blocks on the private test chain.`

// faucetTimeout bounds one faucet request; the first fund mines the 101
// blocks that make a coinbase spendable.
const faucetTimeout = 2 * time.Minute

// faucetHandler serves /fund, /mine and /address for node.
func faucetHandler(node *regtest.Node) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, format string, args ...any) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, format+"\n", args...)
	}
	mux.HandleFunc("POST /fund", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), faucetTimeout)
		defer cancel()
		addr, err := btcutil.DecodeAddress(r.FormValue("address"), node.Params())
		if err != nil || !addr.IsForNet(node.Params()) {
			reply(w, http.StatusBadRequest, "%q is not a regtest address", r.FormValue("address"))
			return
		}
		amount, err := parseAmount(r.FormValue("amount"))
		if err != nil {
			reply(w, http.StatusBadRequest, "%v", err)
			return
		}
		txid, err := node.Fund(ctx, addr, int64(amount))
		if err != nil {
			reply(w, http.StatusInternalServerError, "%v", err)
			return
		}
		reply(w, http.StatusOK, "Sent %s to %s in transaction %s (unconfirmed until a block is mined).", amount, addr, txid)
	})
	mux.HandleFunc("POST /mine", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), faucetTimeout)
		defer cancel()
		n, err := strconv.Atoi(r.FormValue("blocks"))
		if err != nil || n < 1 || n > 1000 {
			reply(w, http.StatusBadRequest, "blocks %q: give a number from 1 to 1000", r.FormValue("blocks"))
			return
		}
		if _, err := node.Mine(ctx, n); err != nil {
			reply(w, http.StatusInternalServerError, "%v", err)
			return
		}
		height, _, err := node.Tip(ctx)
		if err != nil {
			reply(w, http.StatusInternalServerError, "%v", err)
			return
		}
		reply(w, http.StatusOK, "Mined %d block(s); the chain is at height %d.", n, height)
	})
	mux.HandleFunc("GET /address", func(w http.ResponseWriter, r *http.Request) {
		// A fresh key that is thrown away: coins paid here leave the
		// playground's wallets for good, as a payment to a stranger does.
		key, err := btcec.NewPrivateKey()
		if err != nil {
			reply(w, http.StatusInternalServerError, "%v", err)
			return
		}
		addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), node.Params())
		if err != nil {
			reply(w, http.StatusInternalServerError, "%v", err)
			return
		}
		reply(w, http.StatusOK, "%s", addr.EncodeAddress())
	})
	return mux
}

// parseAmount reads 0.5, 0.5btc or 50000sat.
func parseAmount(s string) (btcutil.Amount, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if sat, ok := strings.CutSuffix(s, "sat"); ok {
		n, err := strconv.ParseInt(sat, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("amount %q: expected a positive number of satoshis", s)
		}
		return btcutil.Amount(n), nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "btc"), 64)
	if err != nil || f <= 0 || f > 1000 {
		return 0, fmt.Errorf("amount %q: expected BTC between 0 and 1000 (0.5, 0.5btc) or satoshis (50000sat)", s)
	}
	return btcutil.NewAmount(f)
}

// FaucetMain is the faucet client: `faucet fund ADDRESS AMOUNT`, `faucet
// mine [N]`, `faucet address`. It reads the faucet's URL from
// COUNTERSIGN_FAUCET_URL and returns the exit code.
func FaucetMain(args []string, stdout, stderr io.Writer) int {
	base := os.Getenv(EnvFaucetURL)
	if base == "" {
		fmt.Fprintln(stderr, "faucet: COUNTERSIGN_FAUCET_URL is not set: the faucet only exists inside the regtest playground (bin/countersign-demo run SCRIPT)")
		return 2
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, faucetUsage)
		return 2
	}
	var (
		method = http.MethodPost
		path   string
		form   = url.Values{}
	)
	switch {
	case args[0] == "fund" && len(args) == 3:
		path = "/fund"
		form.Set("address", args[1])
		form.Set("amount", args[2])
	case args[0] == "mine" && len(args) <= 2:
		path = "/mine"
		form.Set("blocks", "1")
		if len(args) == 2 {
			form.Set("blocks", args[1])
		}
	case args[0] == "address" && len(args) == 1:
		method, path = http.MethodGet, "/address"
	default:
		fmt.Fprintln(stderr, faucetUsage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), faucetTimeout)
	defer cancel()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		fmt.Fprintln(stderr, "faucet:", err)
		return 1
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "faucet: the playground's faucet does not answer:", err)
		return 1
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "faucet: %s", msg)
		if resp.StatusCode == http.StatusBadRequest {
			return 2
		}
		return 1
	}
	stdout.Write(msg)
	return 0
}

// writeFaucetWrapper writes an executable `faucet` script that runs the
// faucet client command with its arguments.
func writeFaucetWrapper(path string, command []string) error {
	quoted := make([]string, len(command))
	for i, a := range command {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	script := "#!/bin/sh\n# The regtest playground's faucet (see `faucet` without arguments).\nexec " + strings.Join(quoted, " ") + " \"$@\"\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		return fmt.Errorf("runner: write the faucet wrapper: %w", err)
	}
	return nil
}
