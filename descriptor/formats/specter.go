package formats

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// specterDevice is one cosigner in Specter's export; Sparrow maps the
// devices to the descriptor's keys in order.
type specterDevice struct {
	Type  string `json:"type"`
	Label string `json:"label"`
}

// specterOut is what exportSpecter writes.
type specterOut struct {
	Label       string          `json:"label"`
	BlockHeight int32           `json:"blockheight"`
	Descriptor  string          `json:"descriptor"`
	Devices     []specterDevice `json:"devices,omitempty"`
}

// specterIn is what importSpecter reads: Sparrow also accepts "name" for
// the label, "recv_descriptor" for the descriptor, and devices given as
// plain label strings.
type specterIn struct {
	Label          *string           `json:"label"`
	Name           *string           `json:"name"`
	BlockHeight    json.Number       `json:"blockheight"`
	Descriptor     string            `json:"descriptor"`
	RecvDescriptor string            `json:"recv_descriptor"`
	Devices        []json.RawMessage `json:"devices"`
}

// specterDeviceType is written for every cosigner: the wallet does not
// know which device holds a key, and "other" is Specter's type for that.
const specterDeviceType = "other"

// exportSpecter writes the receive (/0/*) descriptor, as Specter does, and
// the key labels as devices when there are any.
func exportSpecter(w *Wallet, d *descriptor.Descriptor) ([]byte, error) {
	if err := refuseTaproot("Specter (and Sparrow, which reads this file)", d); err != nil {
		return nil, err
	}
	out := specterOut{Label: w.Name, BlockHeight: w.BirthHeight, Descriptor: receiveForm(d).String()}
	if hasLabels(w.Labels) {
		for _, l := range w.Labels {
			out.Devices = append(out.Devices, specterDevice{Type: specterDeviceType, Label: l})
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode Specter JSON: %w", err)
	}
	return append(b, '\n'), nil
}

// receiveForm is the receive descriptor when it stands for the whole
// wallet (every key ends in /<0;1>/*, so /0/* implies /1/* for change),
// and the multipath descriptor itself otherwise.
func receiveForm(d *descriptor.Descriptor) *descriptor.Descriptor {
	if d.Branches() != 2 {
		return d
	}
	r, err := d.Single(0)
	if err != nil || !descriptor.Equal(r, d) {
		return d
	}
	return r
}

func hasLabels(labels []string) bool {
	for _, l := range labels {
		if l != "" {
			return true
		}
	}
	return false
}

// importSpecter reads Specter Desktop's (and Sparrow's) wallet JSON.
func importSpecter(text string, defaultNet *chaincfg.Params) (*Wallet, error) {
	var in specterIn
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, invalidf("Specter JSON: %v", err)
	}
	if dec.More() {
		return nil, invalidf("Specter JSON: more data after the wallet object")
	}
	desc := in.Descriptor
	if desc == "" {
		desc = in.RecvDescriptor
	}
	if strings.TrimSpace(desc) == "" {
		return nil, invalidf("the Specter file has no descriptor")
	}
	d, err := parseDescriptor("descriptor", strings.TrimSpace(desc))
	if err != nil {
		return nil, err
	}
	birth, err := specterBirth(in.BlockHeight)
	if err != nil {
		return nil, err
	}
	name := ""
	switch {
	case in.Label != nil:
		name = *in.Label
	case in.Name != nil:
		name = *in.Name
	}
	net, err := networkFromKeys(d, defaultNet)
	if err != nil {
		return nil, err
	}
	labels, err := specterLabels(in.Devices, d.N())
	if err != nil {
		return nil, err
	}
	return newWallet(name, d, net, labels, birth), nil
}

func specterBirth(n json.Number) (int32, error) {
	if n == "" {
		return 0, nil
	}
	v, err := n.Int64()
	if err != nil || v < 0 || v > math.MaxInt32 {
		return 0, invalidf("blockheight %s is not a block height (a whole number from 0)", n)
	}
	return int32(v), nil
}

// specterLabels reads device labels as key labels when there is one device
// per key, as Sparrow does; otherwise which device holds which key is not
// known, and no labels are taken.
func specterLabels(devices []json.RawMessage, n int) ([]string, error) {
	if len(devices) != n {
		return nil, nil
	}
	labels := make([]string, n)
	for i, raw := range devices {
		var dev specterDevice
		if err := json.Unmarshal(raw, &dev); err == nil {
			labels[i] = dev.Label
			continue
		}
		if err := json.Unmarshal(raw, &labels[i]); err != nil {
			return nil, invalidf("devices[%d] is neither a {\"type\", \"label\"} object nor a label string", i)
		}
	}
	return labels, nil
}
