package coordinator_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/jade"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
	"github.com/countersign/countersign/wallet/scan"
)

// newCosigner is a BIP-48 wsh cosigner from a fixed seed, labelled.
func newCosigner(t *testing.T, label string, seedByte byte) coordinator.Cosigner {
	t.Helper()
	return newCosignerOn(t, regtest, label, seedByte)
}

func newCosignerOn(t *testing.T, net *chaincfg.Params, label string, seedByte byte) coordinator.Cosigner {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = seedByte
	}
	m, err := hdkeychain.NewMaster(seed, net)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := m.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
	k := m
	for _, c := range []uint32{48, map[bool]uint32{true: 0, false: 1}[net.Name == "mainnet"], 0, 2} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + c); err != nil {
			t.Fatal(err)
		}
	}
	n, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	coin := 1
	if net.Name == "mainnet" {
		coin = 0
	}
	co, err := coordinator.ParseCosigner(fmt.Sprintf("%s=[%x/48h/%dh/0h/2h]%s", label, fp, coin, n))
	if err != nil {
		t.Fatal(err)
	}
	return co
}

func fpOf(c coordinator.Cosigner) string { return hex.EncodeToString(c.Key.Origin.Fingerprint[:]) }

// TestRotateLostKey rotates the 2-of-3 after carol's key is lost: the
// successor has dave in carol's place, every coin is swept to it by one
// PSBT that alice and bob sign, the old wallet hands out no address, and
// the first sync that finds it empty retires it.
func TestRotateLostKey(t *testing.T) {
	r := newRig(t, 300_000, 200_000, 100_000)
	ctx := context.Background()
	dave := newCosigner(t, "dave", 0xd4)
	res, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: dave, Sweep: coordinator.SweepOptions{FeeRate: 3}})
	if err != nil {
		t.Fatal(err)
	}
	succ := res.Successor
	if succ.Name != "family-2" || succ.Descriptor.Policy() != "2 of 3" || res.Replaced.Label != "carol" || res.Retired {
		t.Fatalf("successor %s %s, replaced %+v, retired %v", succ.Name, succ.Descriptor.Policy(), res.Replaced, res.Retired)
	}
	if !slices.Equal(succ.Labels, []string{"alice", "bob", "dave"}) || succ.Fingerprints[2] != fpOf(dave) {
		t.Fatalf("successor cosigners %v %v", succ.Labels, succ.Fingerprints)
	}
	for i := range 2 {
		if succ.Fingerprints[i] != r.wallet.Fingerprints[i] {
			t.Fatalf("the remaining keys changed: %v vs %v", succ.Fingerprints, r.wallet.Fingerprints)
		}
	}
	if succ.BirthHeight != 200 {
		t.Fatalf("successor birth height %d, want the last synced tip 200", succ.BirthHeight)
	}

	// One sweep PSBT with every coin, paying the successor's first
	// receive address, fee at the rate asked.
	sw := res.Sweep
	if len(sw.PSBTs) != 1 || len(sw.Left) != 0 {
		t.Fatalf("sweep: %d PSBTs, left %+v", len(sw.PSBTs), sw.Left)
	}
	sp := sw.PSBTs[0]
	first, _ := succ.Descriptor.Derive(0, 0, regtest)
	if sp.Inputs != 3 || sp.Address != first.Address || sp.Index != 0 || sp.Amount+sp.Fee != 600_000 || len(sp.PSBT.UnsignedTx.TxOut) != 1 {
		t.Fatalf("sweep PSBT: %+v", sp)
	}
	if sp.Report.FeeRate < 3 || sp.Draft == nil {
		t.Fatalf("fee rate %.2f, draft %v", sp.Report.FeeRate, sp.Draft)
	}
	if w, _ := r.c.Wallet(ctx, "family-2"); w.NextReceive != 1 {
		t.Fatalf("successor next receive %d, want 1 (the sweep's address)", w.NextReceive)
	}

	// No more addresses from the old wallet.
	if _, err := r.c.NextAddress(ctx, "family", ""); !errors.Is(err, wallet.ErrRetired) {
		t.Fatalf("address from the rotated wallet: %v", err)
	}

	// inspect says the output goes to the successor, not to anyone.
	in, err := r.c.Inspect(ctx, "", sp.PSBT, nil, coordinator.GateOptions{})
	if err != nil || in.Refusal != nil || in.Wallet.Name != "family" {
		t.Fatalf("inspect: %+v %v", in, err)
	}
	if in.ToSuccessor == nil || in.ToSuccessor.Successor != "family-2" || !slices.Equal(in.ToSuccessor.Outputs, []int{0}) {
		t.Fatalf("inspect does not name the successor: %+v", in.ToSuccessor)
	}

	// alice and bob sign; carol is not needed.
	var copies []*bpsbt.Packet
	for _, name := range []string{"alice", "bob"} {
		plan, err := r.c.PrepareSign(ctx, "", sp.PSBT, coordinator.GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if plan.ToSuccessor == nil {
			t.Fatal("the sign plan does not name the successor")
		}
		out, err := r.c.Sign(ctx, plan, hw.NewSigner(r.keys[name]))
		if err != nil || out.Added != 3 {
			t.Fatalf("%s signs: %v (%d added)", name, err, out.Added)
		}
		copies = append(copies, out.PSBT)
	}
	comb, err := r.c.Combine(ctx, "", copies, coordinator.GateOptions{})
	if err != nil || !comb.Report.ReadyToFinalize {
		t.Fatalf("combine: %v", err)
	}
	fin, err := r.c.Finalize(ctx, "", comb.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := psbt.Serialize(fin.PSBT)
	if _, err := r.c.Broadcast(ctx, "", raw, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Before a sync the old wallet is not retired: its coins are being
	// spent, not gone.
	st, err := r.c.RotationStatus(ctx, "family")
	if err != nil || st.Retired || st.Successor != "family-2" || len(st.Coins) != 3 {
		t.Fatalf("status before the sweep confirms: %+v %v", st, err)
	}
	// wallet show's summary says so, and which key was rotated out.
	sum, err := r.c.Summary(ctx, "family")
	if err != nil || sum.Rotation == nil || sum.Rotation.Status != "rotating" || sum.Rotation.Successor != "family-2" {
		t.Fatalf("summary while rotating: %+v %v", sum.Rotation, err)
	}
	for _, cs := range sum.Cosigners {
		if cs.Replaced != (cs.Label == "carol") {
			t.Fatalf("cosigner %q replaced=%v; only carol was rotated out", cs.Label, cs.Replaced)
		}
	}
	// The chain (this fake lists no coin) says the coins are gone: the
	// sync retires the wallet.
	sy, err := r.c.Sync(ctx, "family", scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sy.Rotation == nil || !sy.Rotation.Retired || !sy.Rotation.JustRetired || sy.Rotation.Rotation.RetiredHeight != 200 {
		t.Fatalf("sync after the sweep: %+v", sy.Rotation)
	}
	sy, err = r.c.Sync(ctx, "family", scan.Options{})
	if err != nil || !sy.Rotation.Retired || sy.Rotation.JustRetired {
		t.Fatalf("second sync: %+v %v", sy.Rotation, err)
	}
	if st, _ := r.c.RotationStatus(ctx, "family-2"); st.Predecessor != "family" || st.Successor != "" {
		t.Fatalf("successor's status: %+v", st)
	}
	if sum, err := r.c.Summary(ctx, "family"); err != nil || sum.Rotation.Status != "retired" || sum.Rotation.RetiredHeight != 200 {
		t.Fatalf("summary after retirement: %+v %v", sum.Rotation, err)
	}
	if sum, err := r.c.Summary(ctx, "family-2"); err != nil || sum.Rotation == nil || sum.Rotation.Predecessor != "family" || sum.Rotation.Status != "" {
		t.Fatalf("successor's summary: %+v %v", sum.Rotation, err)
	}

	// A coin that arrives later is reported, and swept on request.
	r.fund(t, 50_000)
	st, err = r.c.RotationStatus(ctx, "family")
	if err != nil || !st.Retired || len(st.Coins) != 1 || st.Value != 50_000 {
		t.Fatalf("late coin: %+v %v", st, err)
	}
	late, err := r.c.SweepToSuccessor(ctx, "family", coordinator.SweepOptions{FeeRate: 2})
	if err != nil || len(late.PSBTs) != 1 || late.PSBTs[0].Index != 1 {
		t.Fatalf("sweep of the late coin: %+v %v", late, err)
	}

	// Every step is in the journal.
	actions := map[string]int{}
	for _, name := range []string{"family", "family-2"} {
		js, err := r.c.Store.Journal(ctx, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range js {
			actions[name+" "+e.Action]++
			if e.Action == wallet.ActionWalletRotate {
				var d map[string]any
				json.Unmarshal(e.Detail, &d)
				if d["replaced"] != r.wallet.Fingerprints[2] || d["replacement"] != fpOf(dave) || d["successor"] != "family-2" {
					t.Fatalf("rotation journal: %v", d)
				}
			}
		}
	}
	for _, a := range []string{"family wallet.rotate", "family draft.save", "family draft.broadcast", "family wallet.retire", "family-2 wallet.create", "family-2 address.issue"} {
		if actions[a] == 0 {
			t.Errorf("journal lacks %q: %v", a, actions)
		}
	}
	if actions["family wallet.retire"] != 1 {
		t.Errorf("retired %d times", actions["family wallet.retire"])
	}
	// The store passes every check after the rotation.
	rep, err := r.c.Doctor(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("doctor: %s (%s): %q", c.Name, c.Wallet, c.Problems)
		}
	}
}

// TestRotateGrows turns the 2-of-3 into a 3-of-5: carol replaced, two keys
// added, threshold 3.
func TestRotateGrows(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	dave, erin, frank := newCosigner(t, "dave", 0xd4), newCosigner(t, "erin", 0xe5), newCosigner(t, "frank", 0xf6)
	res, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: r.wallet.Fingerprints[2], Replacement: dave,
		Add: []coordinator.Cosigner{erin, frank}, Threshold: 3, Name: "family 3of5", Sweep: coordinator.SweepOptions{FeeRate: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Successor
	if s.Name != "family 3of5" || s.Descriptor.Policy() != "3 of 5" || !slices.Equal(s.Labels, []string{"alice", "bob", "dave", "erin", "frank"}) {
		t.Fatalf("successor %q %s %v", s.Name, s.Descriptor.Policy(), s.Labels)
	}
	if s.Descriptor.Script != descriptor.ScriptWsh || !s.Descriptor.Sorted {
		t.Fatal("script type or sorting changed")
	}
	if len(res.Sweep.PSBTs) != 1 || res.Sweep.PSBTs[0].Inputs != 1 {
		t.Fatalf("sweep %+v", res.Sweep)
	}
}

// TestRotateTwoLostKeys: a 3-of-5 loses two keys; one is replaced, the
// other removed and a new key added in its place.
func TestRotateTwoLostKeys(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	// The rig's wallet is a 2-of-3; grow it to a 3-of-5 first.
	res, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4),
		Add: []coordinator.Cosigner{newCosigner(t, "erin", 0xe5), newCosigner(t, "frank", 0xf6)}, Threshold: 3, Sweep: coordinator.SweepOptions{FeeRate: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// Bob and erin lose their keys.
	res, err = r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: res.Successor.Name, Replace: "bob", Replacement: newCosigner(t, "gina", 0x91),
		Remove: []string{"erin"}, Add: []coordinator.Cosigner{newCosigner(t, "hugo", 0x92)}, Sweep: coordinator.SweepOptions{FeeRate: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Successor; s.Name != "family-3" || s.Descriptor.Policy() != "3 of 5" || !slices.Equal(s.Labels, []string{"alice", "gina", "dave", "frank", "hugo"}) {
		t.Fatalf("successor %s %s %v", s.Name, s.Descriptor.Policy(), s.Labels)
	}
	// Naming one cosigner twice, or removing below the threshold, is refused.
	for _, req := range []coordinator.RotateRequest{
		{Wallet: "family-3", Replace: "alice", Replacement: newCosigner(t, "x", 0x93), Remove: []string{"alice"}},
		{Wallet: "family-3", Replace: "alice", Replacement: newCosigner(t, "x", 0x93), Remove: []string{"gina", "dave", "frank"}},
	} {
		if _, err := r.c.Rotate(ctx, req); !errors.Is(err, descriptor.ErrInvalid) {
			t.Fatalf("%v: %v", req.Remove, err)
		}
	}
}

// TestRotateSplitsSweep: the sweep is cut by --max-inputs, and by the
// byte limit, each coin in exactly one PSBT, each PSBT to its own
// successor address.
func TestRotateSplitsSweep(t *testing.T) {
	amounts := make([]int64, 7)
	for i := range amounts {
		amounts[i] = int64(100_000 + i)
	}
	for _, tc := range []struct {
		name      string
		opt       coordinator.SweepOptions
		wantSizes []int
	}{
		{"max inputs 3", coordinator.SweepOptions{FeeRate: 2, MaxInputs: 3}, []int{3, 3, 1}},
		{"one PSBT", coordinator.SweepOptions{FeeRate: 2}, []int{7}},
		// One funding transaction holds every coin, so each input carries
		// it whole: about 1.2 kB a coin in this PSBT.
		{"byte limit", coordinator.SweepOptions{FeeRate: 2, MaxBytes: 4000}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, amounts...)
			ctx := context.Background()
			res, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4), Sweep: tc.opt})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[wire.OutPoint]int{}
			var sizes []int
			for i, p := range res.Sweep.PSBTs {
				raw, _ := psbt.Serialize(p.PSBT)
				if tc.opt.MaxBytes > 0 && len(raw) > tc.opt.MaxBytes {
					t.Fatalf("PSBT %d is %d bytes, limit %d", i, len(raw), tc.opt.MaxBytes)
				}
				if p.Index != uint32(i) {
					t.Fatalf("PSBT %d pays successor index %d", i, p.Index)
				}
				for _, in := range p.PSBT.UnsignedTx.TxIn {
					seen[in.PreviousOutPoint]++
				}
				sizes = append(sizes, p.Inputs)
			}
			if len(seen) != 7 {
				t.Fatalf("swept %d distinct coins of 7", len(seen))
			}
			for op, n := range seen {
				if n != 1 {
					t.Fatalf("coin %s in %d PSBTs", op, n)
				}
			}
			if tc.wantSizes != nil && !slices.Equal(sizes, tc.wantSizes) {
				t.Fatalf("PSBT sizes %v, want %v", sizes, tc.wantSizes)
			}
			if tc.wantSizes == nil && len(sizes) < 2 {
				t.Fatalf("the byte limit did not split the sweep: %v", sizes)
			}
			drafts, _ := r.c.Store.Drafts(ctx, "family")
			if len(drafts) != len(res.Sweep.PSBTs) {
				t.Fatalf("%d drafts for %d PSBTs", len(drafts), len(res.Sweep.PSBTs))
			}
		})
	}
}

// TestRotateSweepTooLarge: a coin that cannot fit the byte limit alone
// makes the sweep fail with a refusal, after the successor was recorded;
// the sweep can be built later with a larger limit.
func TestRotateSweepTooLarge(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	_, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4), Sweep: coordinator.SweepOptions{FeeRate: 2, MaxBytes: 100}})
	if !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("sweep over the limit: %v", err)
	}
	if rot, err := r.c.Store.Rotation(ctx, "family"); err != nil || rot.Successor != "family-2" {
		t.Fatalf("rotation not recorded: %v", err)
	}
	sw, err := r.c.SweepToSuccessor(ctx, "family", coordinator.SweepOptions{FeeRate: 2})
	if err != nil || len(sw.PSBTs) != 1 {
		t.Fatalf("sweep later: %+v %v", sw, err)
	}
}

// TestRotateEmptyWalletRetiresAtOnce: nothing to sweep, nothing to wait for.
func TestRotateEmptyWalletRetiresAtOnce(t *testing.T) {
	r := newRig(t)
	res, err := r.c.Rotate(context.Background(), coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4)})
	if err != nil || !res.Retired || len(res.Sweep.PSBTs) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	rot, _ := r.c.Store.Rotation(context.Background(), "family")
	if !rot.Retired {
		t.Fatal("not retired")
	}
}

// TestSweepLeavesWhatItCannotTake: unconfirmed coins and dust are left,
// and listed.
func TestSweepLeavesWhatItCannotTake(t *testing.T) {
	r := newRig(t, 100_000, 300)
	ctx := context.Background()
	res, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4), Sweep: coordinator.SweepOptions{FeeRate: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sweep.PSBTs) != 1 || res.Sweep.PSBTs[0].Inputs != 1 || len(res.Sweep.Left) != 1 || res.Sweep.Left[0].Value != 300 {
		t.Fatalf("sweep %+v", res.Sweep)
	}
}

// TestRotateRefusals: each refusal stores nothing.
func TestRotateRefusals(t *testing.T) {
	ctx := context.Background()
	dave := newCosigner(t, "dave", 0xd4)
	for _, tc := range []struct {
		name   string
		modify func(r *rig, req *coordinator.RotateRequest)
		want   error
	}{
		{"unknown cosigner", func(_ *rig, q *coordinator.RotateRequest) { q.Replace = "mallory" }, wallet.ErrNotFound},
		{"no cosigner named", func(_ *rig, q *coordinator.RotateRequest) { q.Replace = "" }, descriptor.ErrInvalid},
		{"unknown wallet", func(_ *rig, q *coordinator.RotateRequest) { q.Wallet = "nope" }, wallet.ErrNotFound},
		{"same seed as the key leaving", func(r *rig, q *coordinator.RotateRequest) {
			k, _ := descriptor.ParseKey(r.wallet.Descriptor.Keys[2].String())
			k.Origin.Path = append(k.Origin.Path[:len(k.Origin.Path)-1], hdkeychain.HardenedKeyStart+7)
			q.Replacement = coordinator.Cosigner{Label: "carol again", Key: k}
		}, descriptor.ErrInvalid},
		{"replacement already a cosigner", func(r *rig, q *coordinator.RotateRequest) {
			k, _ := descriptor.ParseKey(r.wallet.Descriptor.Keys[0].String())
			q.Replacement = coordinator.Cosigner{Label: "alice again", Key: k}
		}, descriptor.ErrInvalid},
		{"threshold above n", func(_ *rig, q *coordinator.RotateRequest) { q.Threshold = 4 }, descriptor.ErrInvalid},
		{"name taken", func(_ *rig, q *coordinator.RotateRequest) { q.Name = "family" }, nil},
		{"wrong network key", func(_ *rig, q *coordinator.RotateRequest) {
			q.Replacement = newCosignerOn(t, &chaincfg.MainNetParams, "main", 0xd4)
		}, descriptor.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 100_000)
			req := coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: dave, Sweep: coordinator.SweepOptions{FeeRate: 2}}
			tc.modify(r, &req)
			before, _ := r.c.Store.Journal(ctx, "", 0)
			_, err := r.c.Rotate(ctx, req)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			after, _ := r.c.Store.Journal(ctx, "", 0)
			ws, _ := r.c.Wallets(ctx)
			if len(after) != len(before) || len(ws) != 1 {
				t.Fatalf("a refused rotation changed the store: %d wallets, journal %d -> %d", len(ws), len(before), len(after))
			}
		})
	}
	// Rotating twice is refused and names the successor.
	r := newRig(t, 100_000)
	if _, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: dave, Sweep: coordinator.SweepOptions{FeeRate: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "bob", Replacement: newCosigner(t, "erin", 0xe5)}); !errors.Is(err, wallet.ErrExists) {
		t.Fatalf("second rotation: %v", err)
	}
	// A sweep of a wallet never rotated says how to start one.
	if _, err := r.c.SweepToSuccessor(ctx, "family-2", coordinator.SweepOptions{FeeRate: 2}); !errors.Is(err, coordinator.ErrNoSuccessor) {
		t.Fatalf("sweep without successor: %v", err)
	}
}

func TestSuccessorName(t *testing.T) {
	for in, want := range map[string]string{"vault": "vault-2", "vault-2": "vault-3", "vault-09": "vault-10", "a-b": "a-b-2", "x-1234567": "x-1234567-2"} {
		if got := coordinator.SuccessorName(in); got != want {
			t.Errorf("SuccessorName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSweepLimitFitsDevices: the default byte limit is within what the
// smallest-limit device countersign drives takes.
func TestSweepLimitFitsDevices(t *testing.T) {
	if coordinator.DefaultSweepMaxBytes > jade.MaxPSBT {
		t.Fatalf("DefaultSweepMaxBytes %d is above a Jade's %d", coordinator.DefaultSweepMaxBytes, jade.MaxPSBT)
	}
}

// registerDevice is a plainly fake hardware signer that records
// registrations.
type registerDevice struct {
	fp         [4]byte
	registered []string
	fail       error
	// quiet devices tell their fingerprint only when asked.
	quiet bool
	path  string
}

func (d *registerDevice) Info() hw.DeviceInfo {
	i := hw.DeviceInfo{Type: "fakehw", Path: "fake" + d.path, Fingerprint: hex.EncodeToString(d.fp[:])}
	if d.quiet {
		i.Fingerprint = ""
	}
	return i
}
func (d *registerDevice) Fingerprint(context.Context) ([4]byte, error) { return d.fp, nil }
func (d *registerDevice) Xpub(context.Context, descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	return nil, hw.Errorf(hw.ErrUnsupported, "no keys here")
}
func (d *registerDevice) Register(_ context.Context, w *hw.Wallet) ([]byte, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	d.registered = append(d.registered, w.Name)
	return []byte("proof"), nil
}
func (d *registerDevice) DisplayAddress(context.Context, *hw.Wallet, uint32, uint32) (string, error) {
	return "", hw.Errorf(hw.ErrUnsupported, "no screen")
}
func (d *registerDevice) SignPSBT(context.Context, *bpsbt.Packet, *hw.Wallet) (*bpsbt.Packet, error) {
	return nil, hw.Errorf(hw.ErrUnsupported, "no signing")
}
func (d *registerDevice) Close() error { return nil }

// TestRegisterOnAttached: the successor is registered on the attached
// device that holds one of its keys; a device that refuses is reported
// for its cosigner; cosigners without a device are listed with the type
// the store knows for them.
func TestRegisterOnAttached(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	dave := newCosigner(t, "dave", 0xd4)
	if _, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: dave}); err != nil {
		t.Fatal(err)
	}
	// bob's key was registered on a device for the old wallet.
	if err := r.c.Store.SetRegistration(ctx, "family", &wallet.Registration{Fingerprint: r.wallet.Fingerprints[1], DeviceType: "coldcard"}); err != nil {
		t.Fatal(err)
	}
	dev := &registerDevice{fp: dave.Key.Origin.Fingerprint, quiet: true, path: "/dave"}
	refusing := &registerDevice{fail: hw.Errorf(hw.ErrRejected, "the user said no")}
	copy(refusing.fp[:], mustHex(t, r.wallet.Fingerprints[0]))
	attached := []hw.DeviceInfo{dev.Info(), refusing.Info(), {Type: "broken", Path: "x", Error: "locked"}}
	open := func(_ context.Context, sel string) (*hw.Signer, error) {
		for _, d := range []*registerDevice{dev, refusing} {
			if d.Info().Selector() == sel {
				return hw.NewSigner(d), nil
			}
		}
		return nil, hw.ErrNoDevice
	}
	es, err := r.c.RegisterOnAttached(ctx, "family-2", attached, open)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 {
		t.Fatalf("%d enrolments", len(es))
	}
	if e := es[2]; !e.Registered || e.Label != "dave" || e.Device != "fakehw:"+fpOf(dave) || !slices.Equal(dev.registered, []string{"family-2"}) {
		t.Fatalf("dave's device: %+v, registered %v", e, dev.registered)
	}
	if e := es[0]; e.Registered || !errors.Is(e.Err, hw.ErrRejected) {
		t.Fatalf("refusing device: %+v", e)
	}
	if e := es[1]; e.Registered || e.Device != "" || e.DeviceType != "coldcard" {
		t.Fatalf("bob, not attached: %+v", e)
	}
	regs, _ := r.c.Store.Registrations(ctx, "family-2")
	if len(regs) != 1 || string(regs[0].Token) != "proof" {
		t.Fatalf("registrations recorded: %+v", regs)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnconfirmedSweepDoesNotRetire: a backend drops coins from the
// unspent set as soon as a mempool transaction spends them; the wallet
// retires only once that transaction is in a block.
func TestUnconfirmedSweepDoesNotRetire(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	res, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4), Sweep: coordinator.SweepOptions{FeeRate: 2}})
	if err != nil {
		t.Fatal(err)
	}
	sweepTx := res.Sweep.PSBTs[0].PSBT.UnsignedTx.TxHash()
	for _, tc := range []struct {
		height int32
		want   bool
	}{{0, false}, {201, true}} {
		err := r.c.Store.ApplySync(ctx, "family", wallet.SyncUpdate{Height: 201, Hash: chainhash.Hash{2},
			Txs: []wallet.Tx{{TxID: sweepTx, Height: tc.height, Net: -100_000}}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := r.c.RotationStatus(ctx, "family")
		if err != nil || st.Retired != tc.want || (st.Unconfirmed == 1) == tc.want {
			t.Fatalf("sweep at height %d: %+v %v", tc.height, st, err)
		}
	}
}

// TestSweepFeeGate: a sweep whose fee is above 5% of what it moves is
// refused by the gate like any spend, unless allowed.
func TestSweepFeeGate(t *testing.T) {
	r := newRig(t, 20_000)
	ctx := context.Background()
	_, err := r.c.Rotate(ctx, coordinator.RotateRequest{Wallet: "family", Replace: "carol", Replacement: newCosigner(t, "dave", 0xd4), Sweep: coordinator.SweepOptions{FeeRate: 20}})
	if !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("a 10%% fee: %v", err)
	}
	if ds, _ := r.c.Store.Drafts(ctx, "family"); len(ds) != 0 {
		t.Fatalf("a refused sweep saved %d drafts", len(ds))
	}
	if w, _ := r.c.Wallet(ctx, "family-2"); w.NextReceive != 0 {
		t.Fatalf("a refused sweep took successor address %d", w.NextReceive)
	}
	sw, err := r.c.SweepToSuccessor(ctx, "family", coordinator.SweepOptions{FeeRate: 20, AllowHighFee: true})
	if err != nil || len(sw.PSBTs) != 1 {
		t.Fatalf("allowed: %+v %v", sw, err)
	}
}
