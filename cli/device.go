package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

func newCmdDevice(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "device",
		Short: "Hardware signers: list, read xpubs, register wallets, show addresses",
		Long: `Hardware signers are found over USB; emulators (countersign-emulator) are
included when COUNTERSIGN_EMULATORS=1. Select one with --with:
  coldcard             the only Coldcard attached
  coldcard:0f056943    the one with that master fingerprint
  path:/dev/hidraw3    the one at that USB path or emulator endpoint
A BitBox02 is paired with countersign once, at a terminal: the same pairing
code shows on the device and here, and you confirm it on the device. The
pairing is kept in the data directory (bitbox02/pairings.json).`,
	})
	cmd.AddCommand(newCmdDeviceList(f, nil), newCmdDeviceXpub(f, nil), newCmdDeviceRegister(f, nil), newCmdDeviceAddress(f, nil))
	return cmd
}

// DeviceListOptions are the inputs of `device list`.
type DeviceListOptions struct {
	IO       *Streams
	JSON     bool
	Registry func() *hw.Registry
}

func newCmdDeviceList(f *Factory, runF func(context.Context, *DeviceListOptions) error) *cobra.Command {
	o := &DeviceListOptions{IO: f.IO, Registry: f.Registry}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List attached signers (and emulators when COUNTERSIGN_EMULATORS=1)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if runF != nil {
				return runF(c.Context(), o)
			}
			return deviceListRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, hw.DeviceInfo{})
}

func deviceListRun(ctx context.Context, o *DeviceListOptions) error {
	infos, err := o.Registry().Enumerate(ctx)
	if err != nil {
		return err
	}
	if infos == nil {
		infos = []hw.DeviceInfo{}
	}
	if o.JSON {
		return writeJSON(o.IO.Out, infos)
	}
	var rows []hw.DeviceInfo
	for _, i := range infos {
		if i.Path == "" && i.Error != "" {
			// Not a device: USB itself could not be listed.
			fmt.Fprintf(o.IO.ErrOut, "note: %s devices over USB could not be listed: %s\n", i.Type, safe(i.Error))
			continue
		}
		rows = append(rows, i)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "No signers found. Plug in and unlock a device, or set COUNTERSIGN_EMULATORS=1 for emulators.")
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SELECTOR\tMODEL\tPATH\tSTATUS")
	for _, i := range rows {
		status := "ready"
		if i.Error != "" {
			status = i.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", safe(i.Selector()), safe(orDash(i.Model)), safe(i.Path), safe(status))
	}
	return tw.Flush()
}

// DeviceXpubOptions are the inputs of `device xpub` and `key xpub`.
type DeviceXpubOptions struct {
	IO     *Streams
	JSON   bool
	With   string
	Path   descriptor.Path
	Signer SignerOptions
	Open   func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
}

func newCmdDeviceXpub(f *Factory, runF func(context.Context, *DeviceXpubOptions) error) *cobra.Command {
	o := &DeviceXpubOptions{IO: f.IO, Open: f.OpenSigner}
	var path string
	cmd := &cobra.Command{
		Use:     "xpub --with SIGNER --path P",
		Short:   "Read an extended public key from a signer, with its key origin",
		Example: `  countersign device xpub --with coldcard --path m/48h/0h/0h/2h`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if o.With == "" {
				return usagef("--with SIGNER is required")
			}
			p, err := parsePathFlag(path)
			if err != nil {
				return err
			}
			o.Path = p
			if runF != nil {
				return runF(c.Context(), o)
			}
			return deviceXpubRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.With, "with", "", "the signer")
	cmd.Flags().StringVar(&path, "path", "", "BIP-32 path, e.g. m/48h/0h/0h/2h")
	return withJSONFields(cmd, xpubJSON{})
}

// parsePathFlag reads --path.
func parsePathFlag(s string) (descriptor.Path, error) {
	if s == "" {
		return nil, usagef("--path is required, e.g. m/48h/0h/0h/2h")
	}
	p, err := descriptor.ParsePath(s)
	if err != nil {
		return nil, usagef("--path: %v", err)
	}
	return p, nil
}

type xpubJSON struct {
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path"`
	Xpub        string `json:"xpub"`
	Key         string `json:"key"`
}

func deviceXpubRun(ctx context.Context, o *DeviceXpubOptions) error {
	s, err := o.Open(ctx, o.With, o.Signer)
	if err != nil {
		return err
	}
	defer s.Close()
	k, err := s.KeyExpression(ctx, o.Path)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, xpubJSON{Fingerprint: hex.EncodeToString(k.Origin.Fingerprint[:]), Path: o.Path.String(), Xpub: k.XPub.String(), Key: k.String()})
	}
	fmt.Fprintln(o.IO.Out, k.String())
	return nil
}

// DeviceRegisterOptions are the inputs of `device register`.
type DeviceRegisterOptions struct {
	IO          *Streams
	JSON        bool
	Name        string
	With        string
	QROut       string
	Coordinator func() (*coordinator.Coordinator, error)
	Open        func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
}

func newCmdDeviceRegister(f *Factory, runF func(context.Context, *DeviceRegisterOptions) error) *cobra.Command {
	o := &DeviceRegisterOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner}
	cmd := &cobra.Command{
		Use:   "register NAME --with SIGNER",
		Short: "Register (enroll) a wallet on a hardware signer",
		Long: `Send the wallet's policy to the device, which shows it for approval. A device
that knows the wallet can check change outputs and show addresses; Coldcard
and Ledger refuse to sign for a multisig wallet they have not registered.
countersign records the registration (and the device's proof, where it gives
one) in the store.

A QR signer (--with qr, qr:ur, qr:bbqr) is shown the wallet as an animated
QR code until Enter is pressed: the Coldcard multisig setup file as BBQr for
a Coldcard Q, a crypto-output UR for the others. --qr-out DIR writes the
code as PNG frames, a GIF and parts.txt instead. Nothing comes back from the
device, so nothing is recorded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.With == "" {
				return usagef("--with SIGNER is required")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return deviceRegisterRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.With, "with", "", "the signer")
	cmd.Flags().StringVar(&o.QROut, "qr-out", "", "qr: write the wallet's QR codes to DIR (PNG frames, animated GIF, parts.txt)")
	return withJSONFields(cmd, registerJSON{})
}

type registerJSON struct {
	Wallet      string `json:"wallet"`
	Device      string `json:"device"`
	Fingerprint string `json:"fingerprint"`
	Registered  bool   `json:"registered"`
}

func deviceRegisterRun(ctx context.Context, o *DeviceRegisterOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	if _, err := co.Wallet(ctx, o.Name); err != nil {
		return err
	}
	s, err := o.Open(ctx, o.With, SignerOptions{QROptions: QROptions{QROut: o.QROut}})
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := co.RegisterOnDevice(ctx, o.Name, s)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, registerJSON{Wallet: o.Name, Device: s.Name(), Fingerprint: res.Fingerprint, Registered: true})
	}
	if !res.Recorded {
		fmt.Fprintf(o.IO.ErrOut, "Handed wallet %q to %s; it gives nothing back, so no registration is recorded.\n", safe(o.Name), safe(s.Name()))
		return nil
	}
	fmt.Fprintf(o.IO.ErrOut, "Registered wallet %q on %s.\n", safe(o.Name), safe(s.Name()))
	return nil
}

// DeviceAddressOptions are the inputs of `device address`.
type DeviceAddressOptions struct {
	IO          *Streams
	JSON        bool
	Name        string
	With        string
	Index       uint32
	Change      bool
	Coordinator func() (*coordinator.Coordinator, error)
	Open        func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
}

func newCmdDeviceAddress(f *Factory, runF func(context.Context, *DeviceAddressOptions) error) *cobra.Command {
	o := &DeviceAddressOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner}
	cmd := &cobra.Command{
		Use:   "address NAME --with SIGNER --index I [--change]",
		Short: "Show a wallet address on a signer's screen and check it",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.With == "" {
				return usagef("--with SIGNER is required")
			}
			if o.Index >= descriptor.HardenedKeyStart {
				return usagef("--index must be between 0 and 2^31-1")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return deviceAddressRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.With, "with", "", "the signer")
	cmd.Flags().Uint32Var(&o.Index, "index", 0, "address index")
	cmd.Flags().BoolVar(&o.Change, "change", false, "a change address")
	return withJSONFields(cmd, addressJSON{})
}

func deviceAddressRun(ctx context.Context, o *DeviceAddressOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	w, err := co.Wallet(ctx, o.Name)
	if err != nil {
		return err
	}
	branch := uint32(0)
	if o.Change {
		branch = 1
	}
	addrs, err := co.Addresses(ctx, o.Name, branch, o.Index, 1)
	if err != nil {
		return err
	}
	a := addrs[0]
	s, err := o.Open(ctx, o.With, SignerOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := co.VerifyAddress(ctx, w, s, branch, o.Index); err != nil {
		return registrationHint(err, o.Name, o.With)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, addressJSON{Wallet: o.Name, Branch: branchName(branch), Index: a.Index, Address: a.Address, ScriptPubKey: hex.EncodeToString(a.ScriptPubKey), VerifiedOn: o.With})
	}
	fmt.Fprintln(o.IO.Out, a.Address)
	fmt.Fprintf(o.IO.ErrOut, "Verified: %s showed the same address.\n", safe(o.With))
	return nil
}

func branchName(b uint32) string {
	if b == 1 {
		return "change"
	}
	return "receive"
}
