package chain

import (
	"net/http"
	"os"
	"regexp"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/internal/fuzzseed"
	"github.com/countersign/countersign/internal/regtest"
)

// TestFuzzCorpus derives the seed corpora of this package's fuzz targets
// (see internal/fuzzseed). Deterministic: every backend URL the tests and
// docs use (FuzzParseURL), amounts as nodes print them (FuzzParseBTC).
// Recorded: the replies of whole sessions (runReplies) with the Core and
// Esplora replay servers in their modes (estimate and fallback fees, Core
// without wallet support), and with a real btcd regtest node.
func TestFuzzCorpus(t *testing.T) {
	urls := fuzzseed.New("FuzzParseURL")
	re := regexp.MustCompile(`"((?:core|core\+cookie|btcd|esplora\+https?)://[^"]*)"`)
	for _, file := range []string{"url_test.go", "core_test.go", "esplora_test.go", "open.go", "url.go"} {
		for _, m := range re.FindAllStringSubmatch(string(mustRead(t, file)), -1) {
			urls.Add(m[1], m[1])
		}
	}
	for _, s := range []string{"", "core://", "http://127.0.0.1:8332", "esplora+https://blockstream.info/api", "esplora+https://mempool.space/testnet/api"} {
		urls.Add("extra_"+s, s)
	}
	amounts := fuzzseed.New("FuzzParseBTC")
	for _, s := range []string{"0.00100000", "1e-05", "1E-8", "21000000.00000000", "21000000.00000001", "0.000000001",
		"-0.1", "0", "12.5", "1e999999999", "0.00012", "5e-324", "0x10", " 1", "1.0e2"} {
		amounts.Add(s, s)
	}
	for _, sats := range []int64{0, 1, 99_999_999, 100_000_000, maxSats} {
		amounts.Add("sats_"+btcAmount(sats), btcAmount(sats))
	}
	fuzzseed.Check(t, urls, amounts)

	fuzzseed.Record(t, "FuzzCoreReplies", "session", func() [][]any {
		var out [][]any
		for _, mode := range []string{"estimate", "fallback", "no_wallet"} {
			c, env := replayScenario(&chaincfg.RegressionNetParams)
			srv := newReplayCoreServer(t, c)
			switch mode {
			case "estimate":
				rate := 0.00012
				srv.feeRate = &rate
			case "no_wallet":
				srv.walletSupport = false
			}
			rec := &recordTransport{base: &http.Transport{}}
			runReplies(t, withTransport(t, srv.url(""), rec), env.knownTx)
			out = append(out, []any{env.knownTx.CloneBytes(), rec.records})
		}
		return out
	})
	fuzzseed.Record(t, "FuzzEsploraReplies", "session", func() [][]any {
		var out [][]any
		for _, fees := range []map[string]float64{{"2": 20.5, "6": 10, "144": 1.5}, {}} {
			c, env := replayScenario(&chaincfg.RegressionNetParams)
			srv := newReplayEsploraServer(t, c)
			srv.fees = fees
			rec := &recordTransport{base: &http.Transport{}}
			runReplies(t, withTransport(t, srv.url(), rec), env.knownTx)
			out = append(out, []any{env.knownTx.CloneBytes(), rec.records})
		}
		return out
	})
	fuzzseed.Record(t, "FuzzBtcdReplies", "regtest", func() [][]any {
		return [][]any{recordBtcd(t)}
	})
}

// recordBtcd funds the session's scripts on a real btcd regtest node
// (confirmed and in the mempool) and records a session's replies.
func recordBtcd(t *testing.T) []any {
	t.Helper()
	node := regtest.Start(t)
	ctx := testCtx(t)
	scripts := replyScripts()
	txid, err := node.FundScript(ctx, scripts[1], 2_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.FundScript(ctx, scripts[0], 1_000_000); err != nil {
		t.Fatal(err)
	}
	mine(t, node, 1)
	if _, err := node.FundScript(ctx, scripts[0], 300_000); err != nil {
		t.Fatal(err)
	}
	rec := &recordTransport{base: &http.Transport{}}
	runReplies(t, withTransport(t, node.RPCURL(), rec), txid)
	return []any{txid.CloneBytes(), rec.records}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
