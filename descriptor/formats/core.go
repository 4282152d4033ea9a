package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// coreRangeEnd is the last index Core pre-derives: its default keypool of
// 1000 addresses per branch.
const coreRangeEnd = 999

// coreRequest is one importdescriptors request, fields in Core's order.
// Active and Range apply to ranged descriptors only; Core refuses them on a
// fixed one.
type coreRequest struct {
	Desc      string   `json:"desc"`
	Active    bool     `json:"active,omitempty"`
	Internal  bool     `json:"internal"`
	Timestamp int64    `json:"timestamp"`
	Range     []uint32 `json:"range,omitempty"`
}

// exportCore writes the receive/change pair Core has accepted since
// descriptor wallets began; multipath requests need Core 29 or later.
func exportCore(w *Wallet, d *descriptor.Descriptor) ([]byte, error) {
	ts := birthTimestamp(w.BirthHeight, w.Network)
	request := func(s *descriptor.Descriptor, internal bool) coreRequest {
		r := coreRequest{Desc: s.String(), Internal: internal, Timestamp: ts}
		if s.IsRange() {
			r.Active, r.Range = true, []uint32{0, coreRangeEnd}
		}
		return r
	}
	var reqs []coreRequest
	switch d.Branches() {
	case 1:
		reqs = []coreRequest{request(d, false)}
	case 2:
		recv, change, err := corePair(d)
		if err != nil {
			return nil, fmt.Errorf("%w: export it as \"descriptor\" instead", err)
		}
		reqs = []coreRequest{request(recv, false), request(change, true)}
	default:
		return nil, invalidf("the wallet's keys have %d branches (<a;b;c>); Bitcoin Core's request pair holds a receive and a change branch only: export it as \"descriptor\" instead",
			d.Branches())
	}
	out, err := json.MarshalIndent(reqs, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode importdescriptors JSON: %w", err)
	}
	return append(out, '\n'), nil
}

// corePair splits a two-branch wallet into the receive and change
// descriptors and makes sure they join back into it: that holds for the
// /<0;1>/* wallets every format uses, not for other multipath shapes.
func corePair(d *descriptor.Descriptor) (recv, change *descriptor.Descriptor, err error) {
	if recv, err = d.Single(0); err != nil {
		return nil, nil, err
	}
	if change, err = d.Single(1); err != nil {
		return nil, nil, err
	}
	if d.IsMiniscript() {
		// A miniscript's recovery keys use other branches (/<2;3>/*),
		// which Single maps in step with <0;1>; Core's importdescriptors
		// takes them as they are.
		return recv, change, nil
	}
	if _, err := joinCorePair(recv, change); err != nil {
		return nil, nil, invalidf("not every key ends in /<0;1>/*, so the two branches do not form Core's receive/change pair")
	}
	return recv, change, nil
}

// joinCorePair turns a receive (…/0/*) and change (…/1/*) descriptor into
// the wallet, and refuses two descriptors that are not the two branches of
// one wallet.
func joinCorePair(recv, change *descriptor.Descriptor) (*descriptor.Descriptor, error) {
	if recv.IsMiniscript() {
		return joinMiniscriptPair(recv, change)
	}
	m := recv.Multipath()
	if m.Branches() == 2 {
		r, err0 := m.Single(0)
		c, err1 := m.Single(1)
		if err0 == nil && err1 == nil && r.String() == recv.String() && c.String() == change.String() {
			return m, nil
		}
	}
	return nil, invalidf("the receive and change descriptors are not the /0/* and /1/* branches of one wallet: check that both come from the same wallet")
}

// joinMiniscriptPair joins the receive and change forms of a miniscript
// wallet, whose keys may use other branch pairs than 0/1 (a recovery key at
// /2/* and /3/*): key by key, the two paths must differ in exactly the step
// before the wildcard, which becomes <a;b>.
func joinMiniscriptPair(recv, change *descriptor.Descriptor) (*descriptor.Descriptor, error) {
	bad := invalidf("the receive and change descriptors are not the two branches of one miniscript wallet: check that both come from the same wallet")
	if !change.IsMiniscript() || len(recv.Keys) != len(change.Keys) {
		return nil, bad
	}
	text := recv.StringNoChecksum()
	for i := range recv.Keys {
		r, c := recv.Keys[i], change.Keys[i]
		n := len(r.Path)
		if r.XPub == nil || c.XPub == nil || r.XPub.String() != c.XPub.String() || !r.Wildcard || !c.Wildcard || n == 0 || len(c.Path) != n ||
			r.Path[n-1].Multi != nil || c.Path[n-1].Multi != nil || r.Path[n-1].Index == c.Path[n-1].Index {
			return nil, bad
		}
		j := r
		j.Path = append(append([]descriptor.PathElem{}, r.Path[:n-1]...), descriptor.PathElem{Multi: []uint32{r.Path[n-1].Index, c.Path[n-1].Index}})
		old := r.String()
		replaced := strings.NewReplacer(old+",", j.String()+",", old+")", j.String()+")").Replace(text)
		if replaced == text {
			return nil, bad
		}
		text = replaced
	}
	m, err := descriptor.Parse(text)
	if err != nil {
		return nil, bad
	}
	r, err0 := m.Single(0)
	c, err1 := m.Single(1)
	if err0 != nil || err1 != nil || r.String() != recv.String() || c.String() != change.String() {
		return nil, bad
	}
	return m, nil
}

// coreEntry is one descriptor of Core's JSON, as importdescriptors takes it
// and listdescriptors prints it; the other fields do not change the wallet.
type coreEntry struct {
	Desc     string `json:"desc"`
	Internal bool   `json:"internal"`
}

// coreList is listdescriptors output.
type coreList struct {
	WalletName  string      `json:"wallet_name"`
	Descriptors []coreEntry `json:"descriptors"`
}

// importCore reads importdescriptors or listdescriptors JSON holding one
// wallet: a receive/change pair, a receive descriptor alone, or one
// multipath descriptor. Core's timestamps are times, not heights, so the
// birth height stays unknown.
func importCore(text string, defaultNet *chaincfg.Params) (*Wallet, error) {
	name, entries, err := decodeCore(text)
	if err != nil {
		return nil, err
	}
	var recv, change *descriptor.Descriptor
	for i, e := range entries {
		d, err := parseDescriptor(fmt.Sprintf("entry %d", i+1), e.Desc)
		if err != nil {
			return nil, err
		}
		if d.Branches() > 1 && len(entries) > 1 {
			return nil, invalidf("entry %d is a multipath descriptor alongside other entries: a file must hold one wallet, as one multipath descriptor or one receive/change pair", i+1)
		}
		slot, role := &recv, "receive (internal false)"
		if e.Internal {
			slot, role = &change, "change (internal true)"
		}
		if *slot != nil {
			return nil, invalidf("entry %d is a second %s descriptor: a file must hold one wallet's receive/change pair only", i+1, role)
		}
		*slot = d
	}
	var wallet *descriptor.Descriptor
	switch {
	case recv == nil:
		return nil, invalidf("no receive (internal false) descriptor: the file holds only a change descriptor")
	case change == nil:
		wallet = recv.Multipath()
	default:
		if wallet, err = joinCorePair(recv, change); err != nil {
			return nil, err
		}
	}
	if wallet.Branches() > 2 {
		return nil, invalidf("the descriptor has %d branches (<a;b;c>); a Core wallet has a receive and a change branch: import it as a descriptor file instead", wallet.Branches())
	}
	if wallet.Branches() == 2 {
		if _, _, err := corePair(wallet); err != nil {
			return nil, fmt.Errorf("%w: import it as a descriptor file instead", err)
		}
	}
	net, err := networkFromKeys(wallet, defaultNet)
	if err != nil {
		return nil, err
	}
	return newWallet(name, wallet, net, nil, 0), nil
}

// decodeCore accepts the three shapes Core's JSON comes in and returns the
// wallet name (listdescriptors only) and the descriptor entries.
func decodeCore(text string) (string, []coreEntry, error) {
	t := strings.TrimSpace(stripCommentLines(text))
	// Coldcard writes the RPC call itself: importdescriptors '[...]'
	if rest, ok := strings.CutPrefix(t, "importdescriptors"); ok {
		t = strings.Trim(strings.TrimSpace(rest), "'")
	}
	data := []byte(t)
	var entries []coreEntry
	var name string
	switch {
	case bytes.HasPrefix(data, []byte("[")):
		if err := json.Unmarshal(data, &entries); err != nil {
			return "", nil, invalidf("importdescriptors JSON: %v", err)
		}
	default:
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(data, &probe); err != nil {
			return "", nil, invalidf("Bitcoin Core JSON: %v", err)
		}
		if _, ok := probe["descriptors"]; ok {
			var l coreList
			if err := json.Unmarshal(data, &l); err != nil {
				return "", nil, invalidf("listdescriptors JSON: %v", err)
			}
			name, entries = l.WalletName, l.Descriptors
		} else {
			var e coreEntry
			if err := json.Unmarshal(data, &e); err != nil {
				return "", nil, invalidf("importdescriptors JSON: %v", err)
			}
			entries = []coreEntry{e}
		}
	}
	if len(entries) == 0 {
		return "", nil, invalidf("the Bitcoin Core JSON lists no descriptors")
	}
	for i, e := range entries {
		if strings.TrimSpace(e.Desc) == "" {
			return "", nil, invalidf("entry %d has no \"desc\"", i+1)
		}
	}
	return name, entries, nil
}
