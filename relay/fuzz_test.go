package relay_test

import (
	"testing"

	"github.com/countersign/countersign/relay"
)

// FuzzParseNpub: any text gives a key or an error, never a panic; a key
// read writes back as an npub that reads as the same key.
func FuzzParseNpub(f *testing.F) {
	f.Add("npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu")
	f.Add("17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917")
	f.Add("npub1qqqq")
	f.Fuzz(func(t *testing.T, s string) {
		pk, err := relay.ParseNpub(s)
		if err != nil {
			return
		}
		again, err := relay.ParseNpub(relay.Npub(pk))
		if err != nil || again != pk {
			t.Fatalf("%q: npub round trip: %v", s, err)
		}
	})
}

// FuzzCheckURL: any text is accepted or refused, never a panic.
func FuzzCheckURL(f *testing.F) {
	f.Add("wss://relay.example")
	f.Add("ws://127.0.0.1:7000")
	f.Add("ws://[::1]:1")
	f.Fuzz(func(t *testing.T, s string) {
		_ = relay.CheckURL(s)
	})
}
