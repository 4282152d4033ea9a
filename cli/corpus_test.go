package cli

import (
	"testing"

	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives the seed corpora of the argument parsers' fuzz
// targets (see internal/fuzzseed): the arguments the examples, docs and
// tests pass, and malformed ones next to them; terminal-hostile text for
// the escaper.
func TestFuzzCorpus(t *testing.T) {
	const txid = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
	amounts := fuzzseed.New("FuzzParseAmount")
	for _, s := range []string{"0.5", "0.5btc", "0.5BTC", "150000sat", "150000 sats", "10000000sat", "0.00000001btc", ".00000001",
		"21000000", "21000001", "0.12345678BTC", "0.123456789", "1e3", "-1", "0", "0sat", "1.5sat", "btc", "", " 0.1 ", "0x10", "1_000sat"} {
		amounts.Add(s, s)
	}
	outpoints := fuzzseed.New("FuzzParseOutPoints")
	for _, s := range []string{txid + ":0", txid + ":1", txid + ":4294967295", txid + ":4294967296", txid + ":-1", txid,
		txid + ":", ":0", txid[:63] + ":0", txid + "00:0", txid + ":0:1", "coins", txid + ": 0", txid + ":+1"} {
		outpoints.Add(s, s)
	}
	outputs := fuzzseed.New("FuzzParseOutputs")
	for _, s := range []string{"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq:0.25", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx:10000000sat",
		"bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl:0.1", "2N3oefVeg6stiTb5Kh3ozCSkaqmx91FDbsm:150000 sats", " addr : 0.1 ",
		"bc1q...:0.25", ":0.1", "addr:", "addr", "addr:0", "addr:1:2", "addr:-0.1"} {
		outputs.Add(s, s, false)
	}
	outputs.Add("send_all", "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl", true)
	outputs.Add("send_all_blank", " ", true)
	rates := fuzzseed.New("FuzzParseFeeRate")
	for _, s := range []string{"1", "3", "5", "8", "12.5", "2sat/vB", "0.9", "0", "-3", "NaN", "Inf", "1e400", "1e-400", "0x10", " 4 ", "5 sat/vb"} {
		rates.Add(s, s)
	}
	paths := fuzzseed.New("FuzzParsePathFlag")
	for _, s := range []string{"m/48h/1h/0h/2h", "m/48'/0'/0'/2'", "m/45h", "m", "", "m/0/1", "m/2147483648", "m/2147483647h",
		"48h/0", "m//1", "m/1H", "m/-1", "M/1"} {
		paths.Add(s, s)
	}
	text := fuzzseed.New("FuzzSafe")
	for _, s := range []string{"Family vault", "caf\u00e9", "\x1b[31mred\x1b[0m", "line\nbreak", "cr\rforged", "\u202eevil",
		"\u2066isolate\u2069", "nul\x00", "del\x7f", "c1\u0085", "bad\xff\xfeutf8", "tab\t", "\u2028ls", "emoji \U0001F600", "\ufffd"} {
		text.Add(s, s)
	}
	fuzzseed.Check(t, amounts, outpoints, outputs, rates, paths, text)
}
