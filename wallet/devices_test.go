package wallet

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSetRegistration(t *testing.T) {
	for _, c := range []struct {
		name   string
		wallet string
		reg    Registration
		want   error
	}{
		{"coldcard", "w", Registration{Fingerprint: "D34DB33F", DeviceType: "coldcard", NameOnDevice: "family"}, nil},
		{"ledger with token", "w", Registration{Fingerprint: "0badf00d", DeviceType: "ledger", Token: []byte{1, 2, 3}}, nil},
		{"not a cosigner", "w", Registration{Fingerprint: "12345678", DeviceType: "coldcard"}, ErrNotFound},
		{"bad fingerprint", "w", Registration{Fingerprint: "xyz", DeviceType: "coldcard"}, ErrInvalid},
		{"empty fingerprint", "w", Registration{DeviceType: "coldcard"}, ErrInvalid},
		{"no device type", "w", Registration{Fingerprint: "d34db33f"}, ErrInvalid},
		{"unknown wallet", "nope", Registration{Fingerprint: "d34db33f", DeviceType: "coldcard"}, ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			mustCreate(t, s, "w")
			r := c.reg
			wantErr(t, s.SetRegistration(ctx, c.wallet, &r), c.want)
			regs, err := s.Registrations(ctx, "w")
			if err != nil {
				t.Fatal(err)
			}
			if c.want != nil {
				if len(regs) != 0 {
					t.Fatalf("refused registration stored: %+v", regs)
				}
				return
			}
			want := c.reg
			want.Fingerprint = strings.ToLower(want.Fingerprint)
			want.RegisteredAt = r.RegisteredAt
			if len(regs) != 1 || regs[0].Fingerprint != want.Fingerprint || regs[0].DeviceType != want.DeviceType ||
				regs[0].NameOnDevice != want.NameOnDevice || !bytes.Equal(regs[0].Token, want.Token) ||
				!regs[0].RegisteredAt.Equal(want.RegisteredAt) || want.RegisteredAt.IsZero() {
				t.Fatalf("registrations %+v, want %+v", regs, want)
			}
		})
	}
}

func TestSetRegistrationReplaces(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	for _, r := range []*Registration{
		{Fingerprint: "0badf00d", DeviceType: "ledger", NameOnDevice: "old", Token: []byte("hmac-old")},
		{Fingerprint: "d34db33f", DeviceType: "coldcard"},
		{Fingerprint: "0badf00d", DeviceType: "ledger", NameOnDevice: "new", Token: []byte("hmac-new")},
		{Fingerprint: "0badf00d", DeviceType: "jade"},
	} {
		if err := s.SetRegistration(ctx, "w", r); err != nil {
			t.Fatal(err)
		}
	}
	regs, err := s.Registrations(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range regs {
		got = append(got, r.Fingerprint+"/"+r.DeviceType+"/"+r.NameOnDevice+"/"+string(r.Token))
	}
	want := "0badf00d/jade//,0badf00d/ledger/new/hmac-new,d34db33f/coldcard//"
	if strings.Join(got, ",") != want {
		t.Fatalf("registrations %v, want %s", got, want)
	}
	j, err := s.Journal(ctx, "w", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range j {
		if strings.Contains(string(e.Detail), "hmac") || strings.Contains(string(e.Detail), "aG1h") {
			t.Fatalf("journal holds a device token: %s", e.Detail)
		}
	}
}

func TestRegistrationsUnknownWallet(t *testing.T) {
	s := newStore(t)
	_, err := s.Registrations(context.Background(), "nope")
	wantErr(t, err, ErrNotFound)
}
