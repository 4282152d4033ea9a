package coordinator_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

// FuzzReadBSMSKeyRecord reads a signer's key record (round 1) with the
// session's tokens, one a line: bad input is a classified error, and an
// accepted record is a cosigner with an xpub, its origin and the
// receive/change paths, whose TOKEN is one of the tokens given (or "00").
func FuzzReadBSMSKeyRecord(f *testing.F) {
	f.Add([]byte("BSMS 1.0\n00\n[59865f44/48'/0'/0'/2']026d15412460ba0d881c21837bb999233896085a9ed4e5445bd637c10e579768ba\nSigner 1 key\nH6DXgqkCb353BDPkzppMFpOcdJZlpur0WRetQhIBqSn6DFzoQWBtm+ibP5wERDRNi0bxxev9B+FIvyQWq0s6im4="), "")
	f.Fuzz(func(t *testing.T, data []byte, tokens string) {
		var ts []string
		if tokens != "" {
			ts = strings.Split(tokens, "\n")
		}
		if len(ts) > 4 {
			return // each token costs a 2048-round PBKDF2
		}
		r, err := coordinator.ReadBSMSKeyRecord(data, ts)
		if err != nil {
			if !errors.Is(err, descriptor.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		k := r.Cosigner.Key
		if k.XPub == nil || k.Origin == nil || !k.Wildcard || r.Cosigner.Label != r.Record.Description {
			t.Fatalf("accepted %+v", r.Cosigner)
		}
		// Given any token, the record must carry one of them: a blank
		// one beside them must not open every session.
		given := false
		ok := false
		for _, tk := range ts {
			if strings.TrimSpace(tk) == "" {
				continue
			}
			given = true
			cands, err := formats.BSMSTokenCandidates(tk)
			if err == nil && len(cands) == 0 {
				cands = []string{formats.BSMSNoEncryption}
			}
			for _, c := range cands {
				ok = ok || c == r.Token
			}
		}
		if given {
			if !ok {
				t.Fatalf("token %s not among %q", r.Token, ts)
			}
		}
	})
}
