package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/coldcard"
	"github.com/countersign/countersign/hw/ledger"
	"github.com/countersign/countersign/hw/trezor"
	"github.com/countersign/countersign/wallet"
)

// Registry builds the device registry over every driver countersign has.
func (f *Factory) Registry() *hw.Registry {
	r := hw.NewRegistry(f.deviceDrivers()...)
	r.Getenv = f.Getenv
	r.Prompt = f.prompter()
	return r
}

// deviceDrivers lists the hardware signer families, one per vendor package.
// At a terminal a locked Trezor asks for its PIN (blind matrix) and
// passphrase; without one it is reported locked, with what to do.
func (f *Factory) deviceDrivers() []hw.Driver {
	to := trezor.DriverOptions{}
	if f.IO.CanPrompt() {
		to.PIN = trezor.TerminalPIN(f.IO.In, f.IO.ErrOut)
		to.Passphrase = f.trezorPassphrase
	}
	return []hw.Driver{coldcard.Driver(), ledger.Driver(), trezor.NewDriver(to)}
}

// trezorPassphrase asks for a Trezor's BIP-39 passphrase, offering entry
// on the device when it supports that (safer: nothing typed on this computer).
func (f *Factory) trezorPassphrase(ctx context.Context, onDeviceOK bool) (string, bool, error) {
	p := newLinePrompter(f.IO)
	if onDeviceOK {
		on, err := p.Confirm("Enter the Trezor passphrase on the device itself?", true)
		if err != nil {
			return "", false, err
		}
		if on {
			return "", true, nil
		}
	}
	pass, err := f.passphrase("", "Trezor passphrase (empty for none): ", false)
	if err != nil {
		return "", false, err
	}
	return string(pass), false, nil
}

// openDevice opens a hardware signer by selector.
func (f *Factory) openDevice(ctx context.Context, spec string) (hw.Signer, string, error) {
	s, info, err := f.Registry().Select(ctx, spec)
	if err != nil {
		if errors.Is(err, hw.ErrBadSelector) {
			return nil, "", withHint(err, "signer forms: key:NAME, file:DIR, coldcard, coldcard:FINGERPRINT, path:PATH (see `countersign device list`)")
		}
		if errors.Is(err, hw.ErrNoDevice) {
			return nil, "", withHint(err, "check that the device is plugged in and unlocked, then run `countersign device list`",
				"for emulators set COUNTERSIGN_EMULATORS=1")
		}
		return nil, "", err
	}
	name := info.Type
	if info.Fingerprint != "" {
		name += " " + info.Fingerprint
	}
	return s, name, nil
}

// verifyAddressOnDevice shows the wallet's address on a device and checks
// that the device computed the same one.
func (f *Factory) verifyAddressOnDevice(ctx context.Context, l *loaded, spec string, branch, index uint32, want string) error {
	s, name, err := f.openSigner(ctx, spec, SignerOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := f.feedToken(ctx, l, s); err != nil {
		return err
	}
	got, err := s.DisplayAddress(ctx, l.D, l.Net, l.W.Name, branch, index)
	if err != nil {
		return registrationHint(err, l.W.Name, spec)
	}
	if got != want {
		return fmt.Errorf("%w: %s shows %s but the wallet derives %s at %d/%d: do not use this address; check that the device holds this wallet's key and registration",
			hwMismatch, name, got, want, branch, index)
	}
	return nil
}

// hwMismatch is a device that disagrees with the wallet: a refusal (exit 4).
var hwMismatch = fmt.Errorf("address mismatch: %w", errRefusedByCheck)

// registrationHint adds the fix for an unregistered wallet.
func registrationHint(err error, walletName, spec string) error {
	if errors.Is(err, hw.ErrNotRegistered) {
		return withHint(err, fmt.Sprintf("register it first: countersign device register %s --with %s", walletName, spec))
	}
	return err
}

// feedToken hands a device its stored registration token, if it uses one.
func (f *Factory) feedToken(ctx context.Context, l *loaded, s hw.Signer) error {
	tu, ok := s.(ledger.TokenUser)
	if !ok {
		return nil
	}
	st, err := f.Store()
	if err != nil {
		return err
	}
	fp, err := s.Fingerprint(ctx)
	if err != nil {
		return err
	}
	regs, err := st.Registrations(ctx, l.W.Name)
	if err != nil {
		return err
	}
	for _, r := range regs {
		if strings.EqualFold(r.Fingerprint, hex.EncodeToString(fp[:])) && len(r.Token) > 0 {
			if err := tu.UseToken(r.Token); err != nil {
				return err
			}
		}
	}
	return nil
}

func newCmdDevice(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Hardware signers: list, read xpubs, register wallets, show addresses",
		Long: `Hardware signers are found over USB; emulators (countersign-emulator) are
included when COUNTERSIGN_EMULATORS=1. Select one with --with:
  coldcard             the only Coldcard attached
  coldcard:0f056943    the one with that master fingerprint
  path:/dev/hidraw3    the one at that USB path or emulator endpoint`,
	}
	cmd.AddCommand(newCmdDeviceList(f), newCmdDeviceXpub(f), newCmdDeviceRegister(f), newCmdDeviceAddress(f))
	return cmd
}

func newCmdDeviceList(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List attached signers (and emulators when COUNTERSIGN_EMULATORS=1)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			infos, err := f.Registry().Enumerate(c.Context())
			if err != nil {
				return err
			}
			if infos == nil {
				infos = []hw.DeviceInfo{}
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, infos)
			}
			var rows []hw.DeviceInfo
			for _, i := range infos {
				if i.Path == "" && i.Error != "" {
					// Not a device: USB itself could not be listed.
					fmt.Fprintf(f.IO.ErrOut, "note: %s devices over USB could not be listed: %s\n", i.Type, i.Error)
					continue
				}
				rows = append(rows, i)
			}
			if len(rows) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "No signers found. Plug in and unlock a device, or set COUNTERSIGN_EMULATORS=1 for emulators.")
				return nil
			}
			tw := tabwriter.NewWriter(f.IO.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SELECTOR\tMODEL\tPATH\tSTATUS")
			for _, i := range rows {
				status := "ready"
				if i.Error != "" {
					status = i.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Selector(), orDash(i.Model), i.Path, status)
			}
			return tw.Flush()
		},
	}
}

func newCmdDeviceXpub(f *Factory) *cobra.Command {
	var with, path string
	cmd := &cobra.Command{
		Use:     "xpub --with SIGNER --path P",
		Short:   "Read an extended public key from a signer, with its key origin",
		Example: `  countersign device xpub --with coldcard --path m/48h/0h/0h/2h`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if with == "" {
				return usagef("--with SIGNER is required")
			}
			p, err := parsePath(path)
			if err != nil {
				return err
			}
			s, _, err := f.openSigner(c.Context(), with, SignerOptions{})
			if err != nil {
				return err
			}
			defer s.Close()
			expr, fp, x, err := originKey(c.Context(), s, p)
			if err != nil {
				return err
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, map[string]string{"fingerprint": fp, "path": formatPath(p), "xpub": x, "key": expr})
			}
			fmt.Fprintln(f.IO.Out, expr)
			return nil
		},
	}
	cmd.Flags().StringVar(&with, "with", "", "the signer")
	cmd.Flags().StringVar(&path, "path", "", "BIP-32 path, e.g. m/48h/0h/0h/2h")
	return cmd
}

// originKey reads the xpub at p and returns it as a key expression with origin.
func originKey(ctx context.Context, s hw.Signer, p []uint32) (expr, fp, xpub string, err error) {
	f, err := s.Fingerprint(ctx)
	if err != nil {
		return "", "", "", err
	}
	x, err := s.Xpub(ctx, p)
	if err != nil {
		return "", "", "", err
	}
	fp = hex.EncodeToString(f[:])
	return fmt.Sprintf("[%s%s]%s", fp, strings.TrimPrefix(formatPath(p), "m"), x.String()), fp, x.String(), nil
}

func newCmdDeviceRegister(f *Factory) *cobra.Command {
	var with string
	cmd := &cobra.Command{
		Use:   "register NAME --with SIGNER",
		Short: "Register (enroll) a wallet on a hardware signer",
		Long: `Send the wallet's policy to the device, which shows it for approval. A device
that knows the wallet can check change outputs and show addresses; Coldcard
and Ledger refuse to sign for a multisig wallet they have not registered.
countersign records the registration (and the device's proof, where it gives
one) in the store.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if with == "" {
				return usagef("--with SIGNER is required")
			}
			st, err := f.Store()
			if err != nil {
				return err
			}
			l, err := loadWallet(ctx, st, args[0])
			if err != nil {
				return err
			}
			s, name, err := f.openSigner(ctx, with, SignerOptions{})
			if err != nil {
				return err
			}
			defer s.Close()
			fp, err := s.Fingerprint(ctx)
			if err != nil && !errors.Is(err, hw.ErrDevice) {
				return err
			}
			fps := hex.EncodeToString(fp[:])
			if err == nil && keyIndex(l.D, fp) < 0 {
				return fmt.Errorf("%w: %s (fingerprint %s) holds none of wallet %q's keys; registering it would not let it sign", hw.ErrNoDevice, name, fps, args[0])
			}
			token, err := s.Register(ctx, l.D, l.Net, l.W.Name)
			if err != nil {
				return err
			}
			if err == nil && fp != ([4]byte{}) {
				if err := st.SetRegistration(ctx, l.W.Name, &wallet.Registration{Fingerprint: fps, DeviceType: deviceType(with), NameOnDevice: l.W.Name, Token: token}); err != nil {
					return err
				}
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, map[string]any{"wallet": l.W.Name, "device": name, "fingerprint": fps, "registered": true})
			}
			fmt.Fprintf(f.IO.ErrOut, "Registered wallet %q on %s.\n", l.W.Name, name)
			return nil
		},
	}
	cmd.Flags().StringVar(&with, "with", "", "the signer")
	return cmd
}

func deviceType(spec string) string {
	k, _, _ := strings.Cut(spec, ":")
	return k
}

// keyIndex returns the position of the key with master fingerprint fp.
func keyIndex(d *descriptor.Descriptor, fp [4]byte) int {
	for i, k := range d.Keys {
		if k.Origin != nil && k.Origin.Fingerprint == fp {
			return i
		}
	}
	return -1
}

func newCmdDeviceAddress(f *Factory) *cobra.Command {
	var with string
	var index uint32
	var change bool
	cmd := &cobra.Command{
		Use:   "address NAME --with SIGNER --index I [--change]",
		Short: "Show a wallet address on a signer's screen and check it",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if with == "" {
				return usagef("--with SIGNER is required")
			}
			st, err := f.Store()
			if err != nil {
				return err
			}
			l, err := loadWallet(ctx, st, args[0])
			if err != nil {
				return err
			}
			branch := uint32(0)
			if change {
				branch = 1
			}
			d, err := l.D.Derive(branch, index, l.Net)
			if err != nil {
				return err
			}
			if err := f.verifyAddressOnDevice(ctx, l, with, branch, index, d.Address); err != nil {
				return err
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, addressJSON{Wallet: l.W.Name, Branch: map[bool]string{false: "receive", true: "change"}[change], Index: index, Address: d.Address, ScriptPubKey: hex.EncodeToString(d.ScriptPubKey), VerifiedOn: with})
			}
			fmt.Fprintln(f.IO.Out, d.Address)
			fmt.Fprintf(f.IO.ErrOut, "Verified: %s showed the same address.\n", with)
			return nil
		},
	}
	cmd.Flags().StringVar(&with, "with", "", "the signer")
	cmd.Flags().Uint32Var(&index, "index", 0, "address index")
	cmd.Flags().BoolVar(&change, "change", false, "a change address")
	return cmd
}
