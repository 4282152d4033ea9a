package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
)

// TestConcurrentSpendProcesses starts 20 `countersign spend` processes at
// once against one data directory holding 20 coins, each spending its own
// coin (--utxo): every spend gets its own change address, the 20 are
// exactly change indexes 0 to 19, and the change counter ends at 20. The
// coordinator reserves the change index in the draft's store transaction;
// this is the proof across real processes.
func TestConcurrentSpendProcesses(t *testing.T) {
	const n = 20
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	desc, _ := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	for range n {
		a, err := btcutil.DecodeAddress(strings.TrimSpace(mustRun(t, dir, "address", "w")), node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, 1_000_000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "w")
	var coins []utxoJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "utxos", "w"), &coins)
	if len(coins) != n {
		t.Fatalf("%d coins, want %d", len(coins), n)
	}

	work := t.TempDir()
	ext := node.Address().EncodeAddress()
	cmds := make([]*exec.Cmd, n)
	for i, c := range coins {
		cmds[i] = execCLI(t, dir, "spend", "w", "--utxo", c.OutPoint, "--to", ext+":0.001", "--fee-rate", "2",
			"-o", filepath.Join(work, fmt.Sprintf("%d.psbt", i)))
	}
	start := time.Now()
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("spend %d: %v\n%s", i, err, c.Stderr.(*bytes.Buffer))
		}
	}
	took := time.Since(start)

	var want []addressJSON
	mustJSON(t, mustRun(t, dir, "--json", "address", "w", "--change", "--index", "0", "--count", fmt.Sprint(n)), &want)
	var got, wantAddrs []string
	for _, a := range want {
		wantAddrs = append(wantAddrs, a.Address)
	}
	for i, c := range coins {
		var rep struct {
			Inputs []struct {
				OutPoint string `json:"outpoint"`
			} `json:"inputs"`
			Outputs []struct {
				Kind    string `json:"kind"`
				Address string `json:"address"`
			} `json:"outputs"`
		}
		mustJSON(t, mustRun(t, dir, "--json", "psbt", "inspect", filepath.Join(work, fmt.Sprintf("%d.psbt", i))), &rep)
		if len(rep.Inputs) != 1 || rep.Inputs[0].OutPoint != c.OutPoint {
			t.Fatalf("spend %d spends %+v, want only %s", i, rep.Inputs, c.OutPoint)
		}
		for _, o := range rep.Outputs {
			if o.Kind == "change" {
				got = append(got, o.Address)
			}
		}
	}
	slices.Sort(got)
	slices.Sort(wantAddrs)
	if !slices.Equal(got, wantAddrs) {
		t.Fatalf("change addresses of the %d spends:\n%v\nwant change indexes 0 to %d:\n%v", n, got, n-1, wantAddrs)
	}
	var w walletJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "show", "w")), &w); err != nil {
		t.Fatal(err)
	}
	if w.NextChange != n {
		t.Fatalf("next change index %d, want %d", w.NextChange, n)
	}
	var rep doctorReport
	mustJSON(t, mustRun(t, dir, "--json", "doctor"), &rep)
	if !rep.OK {
		t.Fatalf("doctor: %s", rep.failedChecks())
	}
	t.Logf("%d concurrent spend processes took %v; %d distinct change addresses, next change index %d", n, took.Round(time.Millisecond), len(got), w.NextChange)
}
