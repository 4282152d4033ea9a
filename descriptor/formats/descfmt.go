package formats

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// exportDescriptor writes the canonical multipath descriptor, one line.
func exportDescriptor(_ *Wallet, d *descriptor.Descriptor) ([]byte, error) {
	return []byte(d.String() + "\n"), nil
}

// importDescriptor reads one descriptor, or several that all describe the
// same wallet (Sparrow writes the multipath form and the receive and change
// descriptors in one file). '#' comment lines are skipped, and a descriptor
// spread over several lines (Coldcard's "pretty" export) is joined.
func importDescriptor(text string, defaultNet *chaincfg.Params) (*Wallet, error) {
	units, err := descriptorUnits(stripCommentLines(text))
	if err != nil {
		return nil, err
	}
	var wallet *descriptor.Descriptor
	for i, u := range units {
		d, err := parseDescriptor(fmt.Sprintf("descriptor %d", i+1), u)
		if err != nil {
			return nil, err
		}
		m := d.Multipath()
		if wallet == nil {
			wallet = m
			continue
		}
		if !descriptor.Equal(wallet, m) {
			return nil, invalidf("descriptor %d describes a different wallet than descriptor 1: a file must hold one wallet's descriptors only", i+1)
		}
	}
	net, err := networkFromKeys(wallet, defaultNet)
	if err != nil {
		return nil, err
	}
	return newWallet("", wallet, net, nil, 0), nil
}

// descriptorUnits splits text into descriptors: a line ends a descriptor
// when its parentheses balance, so a descriptor printed over several lines
// is joined, with the whitespace of the layout removed (descriptors contain
// none).
func descriptorUnits(text string) ([]string, error) {
	var units []string
	var cur strings.Builder
	depth := 0
	for _, ln := range strings.Split(text, "\n") {
		ln = strings.Join(strings.Fields(ln), "")
		if ln == "" {
			continue
		}
		cur.WriteString(ln)
		depth += strings.Count(ln, "(") - strings.Count(ln, ")")
		if depth <= 0 {
			units = append(units, cur.String())
			cur.Reset()
			depth = 0
		}
	}
	if cur.Len() > 0 {
		return nil, invalidf("the descriptor ends before its parentheses close: the file is cut short")
	}
	if len(units) == 0 {
		return nil, invalidf("the file holds no descriptor")
	}
	return units, nil
}
