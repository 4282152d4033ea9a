package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/transport"
)

// bitbox02Options are the parsed flags of `countersign-emulator bitbox02`.
type bitbox02Options struct {
	Mnemonic      string
	Listen        string
	Network       string
	Reject        bool
	RefusePairing bool
	Locked        bool
	NoiseKey      string
	PairedHosts   []string
	Firmware      string
}

// envBitBox02Simulator is the variable countersign reads for the
// simulator's address; the emulator defaults to it too, so both sides
// agree (only its first entry when it lists several).
const envBitBox02Simulator = "COUNTERSIGN_BITBOX02_SIMULATOR"

// firmwareVersion is the shape of a BitBox02 version string ("v9.21.0").
var firmwareVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$`)

func newBitBox02Cmd(runF func(context.Context, *cobra.Command, *bitbox02Options) error) *cobra.Command {
	o := &bitbox02Options{}
	cmd := &cobra.Command{
		Use:   "bitbox02 --mnemonic WORDS",
		Short: "Emulate a BitBox02 on the vendor simulator's TCP port",
		Long: `Emulate a BitBox02 on the TCP port the vendor's simulator uses (15423).

The emulator speaks the BitBox02 protocol: 64-byte USB reports over TCP,
the HWW request layer, the Noise_XX encrypted channel (with its own static
key; the pairing code of a new host is confirmed automatically unless
--refuse-pairing) and the protobuf API for xpubs, multisig and wallet
policy registration (wsh miniscript, from --firmware v9.15.0), addresses
and streaming transaction signing, with a seed made from
--mnemonic. It serves Bitcoin, testnet and regtest from that one seed;
--network only picks the BIP-48 xpub it prints at start. With --reject every
confirmation is cancelled, as if the user tapped the cross.

The device forgets paired hosts when it stops; --noise-key and
--paired-host make pairings survive restarts.

Try it with: COUNTERSIGN_EMULATORS=1 countersign device list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Mnemonic == "" {
				return errors.New("--mnemonic is required")
			}
			if o.Listen == "" {
				return errors.New("--listen must not be empty")
			}
			if runF != nil {
				return runF(cmd.Context(), cmd, o)
			}
			return runBitBox02(cmd.Context(), cmd, o)
		},
	}
	def := strings.TrimSpace(strings.Split(os.Getenv(envBitBox02Simulator), ",")[0])
	if def == "" {
		def = emu.DefaultAddr
	}
	f := cmd.Flags()
	f.StringVar(&o.Mnemonic, "mnemonic", "", "BIP-39 words of the emulated device's seed")
	f.StringVar(&o.Listen, "listen", def, "TCP address to listen on (env "+envBitBox02Simulator+")")
	f.StringVar(&o.Network, "network", "testnet", "network of the BIP-48 xpub printed at start: mainnet, testnet or regtest")
	f.BoolVar(&o.Reject, "reject", false, "cancel every confirmation, as if the user tapped the cross")
	f.BoolVar(&o.RefusePairing, "refuse-pairing", false, "reject every pairing code")
	f.BoolVar(&o.Locked, "locked", false, "start locked: the host's unlock request is confirmed as a password entry")
	f.StringVar(&o.NoiseKey, "noise-key", "", "the device's static Noise private key, 64 hex digits (random when empty)")
	f.StringArrayVar(&o.PairedHosts, "paired-host", nil, "a host static Noise public key (64 hex digits) the device already trusts (repeat)")
	f.StringVar(&o.Firmware, "firmware", "v9.21.0", "firmware version the device reports, vX.Y.Z (wallet policies, so miniscript wallets, from v9.15.0)")
	return cmd
}

func runBitBox02(ctx context.Context, cmd *cobra.Command, o *bitbox02Options) error {
	net, err := descriptor.NetworkParams(o.Network)
	if err != nil {
		return err
	}
	if !firmwareVersion.MatchString(o.Firmware) {
		return fmt.Errorf("--firmware %q must look like v9.21.0", o.Firmware)
	}
	cfg := emu.Config{Mnemonic: strings.TrimSpace(o.Mnemonic), RefusePairing: o.RefusePairing, Locked: o.Locked, Version: o.Firmware}
	if o.NoiseKey != "" {
		if cfg.NoiseKey, err = hex.DecodeString(o.NoiseKey); err != nil || len(cfg.NoiseKey) != 32 {
			return errors.New("--noise-key must be 64 hex digits")
		}
	}
	for _, h := range o.PairedHosts {
		k, err := hex.DecodeString(h)
		if err != nil || len(k) != 32 {
			return fmt.Errorf("--paired-host %q must be 64 hex digits", h)
		}
		cfg.PairedHosts = append(cfg.PairedHosts, k)
	}
	if o.Reject {
		cfg.Approve = func(_ context.Context, s emu.Screen) bool { return s.Kind == "pairing" || s.Kind == "unlock" }
	}
	e, err := emu.New(cfg)
	if err != nil {
		return err
	}
	ln, err := transport.ListenTCPReports(o.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	fp := e.Fingerprint()
	path, _ := descriptor.MultisigPath(net, descriptor.ScriptWsh, 0)
	xpub, err := e.Xpub(path, net)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "bitbox02 emulator %s listening on tcp:%s\n", hex.EncodeToString(fp[:]), ln.Addr())
	fmt.Fprintf(cmd.ErrOrStderr(), "device noise key %x; wsh key [%x/48h/%dh/0h/2h]%s\n", e.NoisePublicKey(), fp, path[1]-hdkeychain.HardenedKeyStart, xpub)
	err = e.Serve(ctx, ln)
	st := e.Stats()
	fmt.Fprintf(cmd.ErrOrStderr(), "bitbox02 emulator stopped: %d requests, %d API calls, %d reports in, %d out\n", st.Requests, st.APIRequests, st.ReportsIn, st.ReportsOut)
	return err
}
