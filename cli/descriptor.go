package cli

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
)

func newCmdDescriptor(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "descriptor",
		Short: "Check and derive output descriptors without storing anything",
	})
	cmd.AddCommand(newCmdDescriptorCheck(f, nil), newCmdDescriptorDerive(f, nil))
	return cmd
}

// DescriptorCheckOptions are the inputs of `descriptor check`.
type DescriptorCheckOptions struct {
	IO         *Streams
	JSON       bool
	Descriptor string
}

func newCmdDescriptorCheck(f *Factory, runF func(*DescriptorCheckOptions) error) *cobra.Command {
	o := &DescriptorCheckOptions{IO: f.IO}
	return withJSONFields(&cobra.Command{
		Use:   "check DESCRIPTOR",
		Short: "Validate a descriptor and print its canonical form with checksum",
		Example: `  countersign descriptor check 'wsh(sortedmulti(2,[d34db33f/48h/0h/0h/2h]xpub.../<0;1>/*,...))'
  countersign descriptor check --json "$DESC" | jq -r .checksum`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Descriptor = args[0]
			if runF != nil {
				return runF(o)
			}
			return descriptorCheckRun(o)
		},
	}, descriptorCheckJSON{})
}

// keyJSON describes one cosigner key.
type keyJSON struct {
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path,omitempty"`
	Key         string `json:"key"`
	Expression  string `json:"expression"`
}

type descriptorCheckJSON struct {
	Descriptor string    `json:"descriptor"`
	Checksum   string    `json:"checksum"`
	Script     string    `json:"script"`
	Sorted     bool      `json:"sorted"`
	Threshold  int       `json:"threshold"`
	N          int       `json:"n"`
	Policy     string    `json:"policy"`
	Multipath  bool      `json:"multipath"`
	Network    string    `json:"network"`
	Keys       []keyJSON `json:"keys"`
}

func descriptorCheckRun(o *DescriptorCheckOptions) error {
	d, err := descriptor.Parse(strings.TrimSpace(o.Descriptor))
	if err != nil {
		return err
	}
	if d.HasPrivate() {
		fmt.Fprintln(o.IO.ErrOut, "warning: this descriptor contains private keys; the canonical form below shows only public keys")
	}
	s := d.String()
	if !o.JSON {
		fmt.Fprintln(o.IO.Out, s)
		return nil
	}
	out := descriptorCheckJSON{
		Descriptor: s,
		Checksum:   s[strings.LastIndexByte(s, '#')+1:],
		Script:     d.Script.String(),
		Sorted:     d.Sorted,
		Threshold:  d.Threshold,
		N:          d.N(),
		Policy:     d.Policy(),
		Multipath:  d.Branches() > 1,
		Network:    networkFamily(d),
		Keys:       keysJSON(d),
	}
	return writeJSON(o.IO.Out, out)
}

func networkFamily(d *descriptor.Descriptor) string {
	if d.IsMainnet() {
		return "mainnet"
	}
	return "testnet"
}

func keysJSON(d *descriptor.Descriptor) []keyJSON {
	keys := make([]keyJSON, 0, len(d.Keys))
	for _, k := range d.Keys {
		kj := keyJSON{Expression: k.String()}
		if k.Origin != nil {
			kj.Fingerprint = hex.EncodeToString(k.Origin.Fingerprint[:])
			kj.Path = descriptor.Path(k.Origin.Path).String()
		}
		if k.XPub != nil {
			kj.Key = k.XPub.String()
		} else if k.PubKey != nil {
			if k.Uncompressed {
				kj.Key = hex.EncodeToString(k.PubKey.SerializeUncompressed())
			} else {
				kj.Key = hex.EncodeToString(k.PubKey.SerializeCompressed())
			}
		}
		keys = append(keys, kj)
	}
	return keys
}

// DescriptorDeriveOptions are the inputs of `descriptor derive`.
type DescriptorDeriveOptions struct {
	IO         *Streams
	JSON       bool
	Descriptor string
	Network    string
	From       uint32
	Count      uint32
	Change     bool
}

func newCmdDescriptorDerive(f *Factory, runF func(*DescriptorDeriveOptions) error) *cobra.Command {
	o := &DescriptorDeriveOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "derive DESCRIPTOR",
		Short: "Print the addresses a descriptor derives",
		Long: `Print one address per line (with --json an array of objects with index,
address and script_pubkey). A multipath descriptor (/<0;1>/*) derives receive
addresses, or change addresses with --change. The network defaults to mainnet
for xpub keys and testnet for tpub keys; use --network for signet or regtest.`,
		Example: `  countersign descriptor derive "$DESC" --from 0 --count 10
  countersign descriptor derive "$DESC" --change --network regtest --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
			o.Descriptor = args[0]
			if o.Count == 0 {
				return usagef("--count must be at least 1")
			}
			if uint64(o.From)+uint64(o.Count) > descriptor.HardenedKeyStart {
				return usagef("--from + --count must stay below 2^31 (non-hardened indexes)")
			}
			if runF != nil {
				return runF(o)
			}
			return descriptorDeriveRun(o)
		},
	}
	cmd.Flags().Uint32Var(&o.From, "from", 0, "first index")
	cmd.Flags().Uint32Var(&o.Count, "count", 1, "number of addresses")
	cmd.Flags().BoolVar(&o.Change, "change", false, "derive the change branch (second multipath alternative)")
	return withJSONFields(cmd, derivedJSON{})
}

type derivedJSON struct {
	Index        uint32 `json:"index"`
	Address      string `json:"address"`
	ScriptPubKey string `json:"script_pubkey"`
}

func descriptorDeriveRun(o *DescriptorDeriveOptions) error {
	d, err := descriptor.Parse(strings.TrimSpace(o.Descriptor))
	if err != nil {
		return err
	}
	net, err := pickNetwork(o.Network, d)
	if err != nil {
		return err
	}
	var branch uint32
	if o.Change {
		if d.Branches() < 2 {
			return usagef("--change needs a multipath descriptor (/<0;1>/*); this one has a single branch")
		}
		branch = 1
	}
	if !d.IsRange() && (o.From != 0 || o.Count != 1) {
		return usagef("this descriptor has no wildcard (/*): it derives exactly one address; drop --from/--count")
	}
	addrs, err := d.DeriveRange(branch, o.From, o.Count, net)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(o.IO.Out, 1<<16)
	if o.JSON {
		out := make([]derivedJSON, len(addrs))
		for i, a := range addrs {
			out[i] = derivedJSON{Index: a.Index, Address: a.Address, ScriptPubKey: hex.EncodeToString(a.ScriptPubKey)}
		}
		if err := writeJSON(w, out); err != nil {
			return err
		}
		return w.Flush()
	}
	for _, a := range addrs {
		w.WriteString(a.Address)
		w.WriteByte('\n')
	}
	return w.Flush()
}

// pickNetwork resolves --network against the descriptor's key family.
func pickNetwork(name string, d *descriptor.Descriptor) (*chaincfg.Params, error) {
	if name == "" {
		if d.IsMainnet() {
			return &chaincfg.MainNetParams, nil
		}
		return &chaincfg.TestNet3Params, nil
	}
	net, err := descriptor.NetworkParams(name)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if err := d.CheckNetwork(net); err != nil {
		return nil, err
	}
	return net, nil
}
