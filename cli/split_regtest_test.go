package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
)

// TestSpendSplitRegtest: 150 coins of one 150-output transaction make a
// PSBT of about 1 MB (each input carries that transaction whole), over
// a Jade's 401 KiB. `spend --send-all --max-psbt-size jade` splits the
// consolidation into several transactions, each under the limit with its
// signatures; each is signed by two software keys, combined, finalized
// and broadcast on the real node, and the next sync shows the wallet
// holding one coin per part, worth everything less the fees.
func TestSpendSplitRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	const coins = 150
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs)

	d, err := descriptor.Parse(desc)
	if err != nil {
		t.Fatal(err)
	}
	outs := make([]*wire.TxOut, coins)
	var total int64
	for i := range outs {
		der, err := d.Derive(0, uint32(i), node.Params())
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = wire.NewTxOut(int64(100_000+i), der.ScriptPubKey)
		total += outs[i].Value
	}
	fund, err := node.Spend(ctx, outs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.SendRaw(ctx, fund); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s := syncJSONOf(t, dir, node.RPCURL()); s.UTXOs != coins {
		t.Fatalf("synced %d coins, want %d", s.UTXOs, coins)
	}

	// Consolidate to the wallet's own next address.
	to := strings.TrimSpace(mustRun(t, dir, "address", "w"))
	work := t.TempDir()

	// The text form explains the split and prints each PSBT on its own
	// line; those drafts are abandoned to free the coins.
	r := runCLI(t, dir, "", "spend", "w", "--send-all", to, "--fee-rate", "3", "--max-psbt-size", "jade")
	lines := strings.Fields(r.Out)
	if r.Code != 0 || !strings.Contains(r.Err, fmt.Sprintf("Split: the sweep of %d coins does not fit one PSBT of at most %d bytes", coins, 401<<10-128)) ||
		!strings.Contains(r.Err, "whole previous transaction") || len(lines) < 2 {
		t.Fatalf("text split: exit %d, %d PSBTs\n%s", r.Code, len(lines), r.Err)
	}
	ids := regexp.MustCompile(`draft ([0-9a-f]{12}),`).FindAllStringSubmatch(r.Err, -1)
	if len(ids) != len(lines) {
		t.Fatalf("%d drafts named for %d PSBTs:\n%s", len(ids), len(lines), r.Err)
	}
	for _, id := range ids {
		mustRun(t, dir, "psbt", "abandon", id[1])
	}

	var sp struct {
		MaxPSBTSize int    `json:"max_psbt_size"`
		Source      string `json:"max_psbt_size_source"`
		Parts       []struct {
			Draft      string `json:"draft_id"`
			File       string `json:"file"`
			Inputs     int    `json:"inputs"`
			Amount     int64  `json:"amount"`
			Fee        int64  `json:"fee"`
			Size       int    `json:"psbt_bytes"`
			SignedSize int    `json:"signed_bytes"`
		} `json:"parts"`
	}
	out := mustRun(t, dir, "--json", "spend", "w", "--send-all", to, "--fee-rate", "2", "--max-psbt-size", "jade", "-o", filepath.Join(work, "sweep.psbt"))
	if err := json.Unmarshal([]byte(out), &sp); err != nil {
		t.Fatal(err)
	}
	lim, _ := coordinator.DevicePSBTLimit("jade")
	if sp.MaxPSBTSize != lim.Bytes || !strings.Contains(sp.Source, "jade") || len(sp.Parts) < 2 {
		t.Fatalf("split: limit %d (%s), %d parts", sp.MaxPSBTSize, sp.Source, len(sp.Parts))
	}
	inputs := 0
	var fees int64
	for i, p := range sp.Parts {
		if p.SignedSize > lim.Bytes || p.Size >= p.SignedSize || p.File != filepath.Join(work, fmt.Sprintf("sweep-%d.psbt", i+1)) {
			t.Fatalf("part %d: %+v", i, p)
		}
		inputs += p.Inputs
		fees += p.Fee

		// Two cosigners sign copies; combine, finalize, broadcast.
		var signed []string
		for k := 1; k <= 2; k++ {
			o := filepath.Join(work, fmt.Sprintf("signed-%d-%d.psbt", i, k))
			mustRun(t, dir, "sign", p.File, "--with", fmt.Sprintf("key:k%d", k), "--yes", "-o", o)
			signed = append(signed, o)
		}
		combined := filepath.Join(work, fmt.Sprintf("combined-%d.psbt", i))
		mustRun(t, dir, append(append([]string{"psbt", "combine"}, signed...), "-o", combined)...)
		// The signed PSBT is within what the split promised.
		if r := inspectFile(t, dir, combined); !r.ReadyToFinalize {
			t.Fatalf("part %d not ready after two signatures", i)
		}
		txFile := filepath.Join(work, fmt.Sprintf("tx-%d.hex", i))
		mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
		mustRun(t, dir, "psbt", "broadcast", txFile)
	}
	if inputs != coins {
		t.Fatalf("the parts spend %d coins of %d", inputs, coins)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncJSONOf(t, dir, node.RPCURL())
	if s.UTXOs != len(sp.Parts) || s.Confirmed != total-fees {
		t.Fatalf("after the sweep: %d coins worth %d, want %d worth %d", s.UTXOs, s.Confirmed, len(sp.Parts), total-fees)
	}
	mustDoctor(t, dir)
}
