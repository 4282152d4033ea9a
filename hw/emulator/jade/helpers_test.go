package jade

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Jade's own test wallets (Blockstream/Jade test_jade.py): TEST_MNEMONIC
// (fingerprint e3ebcc79), the raw seed TEST_SEED_SINGLE_SIG (1273da33) and
// the singlesig mnemonic TEST_MNEMONIC_SINGLE_SIG.
const (
	testMnemonic = "fish inner face ginger orchard permit useful method fence kidney chuckle party favorite sunset draw limb science crane oval letter slot invite sadness banana"
	testSeedSS   = "b90e532426d0dc20fffe01037048c018e940300038b165c211915c672e07762c"
	testMnemSS   = "paddle puppy easily actor poet apart screen drastic city front predict damp"
)

// client speaks the protocol to an emulator over an in-memory pipe, with
// fxamacker's stream decoder (not the emulator's scanner).
type client struct {
	t    testing.TB
	conn net.Conn
	dec  *cbor.Decoder
	n    int
}

func newClient(t testing.TB, cfg Config) (*client, *Emulator) {
	t.Helper()
	if cfg.Mnemonic == "" && cfg.Seed == nil {
		cfg.Mnemonic = testMnemonic
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dialPipe(t, e), e
}

func dialPipe(t testing.TB, e *Emulator) *client {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.ServeConn(ctx, b) }()
	t.Cleanup(func() { cancel(); a.Close(); <-done })
	return &client{t: t, conn: a, dec: cbor.NewDecoder(a)}
}

// send writes a request and returns its id.
func (c *client) send(method string, params any) string {
	c.t.Helper()
	c.n++
	id := fmt.Sprint(c.n)
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, err := cbor.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// reply is a decoded reply.
type reply struct {
	ID     string          `cbor:"id"`
	Result cbor.RawMessage `cbor:"result"`
	Error  *struct {
		Code    int    `cbor:"code"`
		Message string `cbor:"message"`
		Data    []byte `cbor:"data"`
	} `cbor:"error"`
	SeqNum int `cbor:"seqnum"`
	SeqLen int `cbor:"seqlen"`
}

func (c *client) read() reply {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var r reply
	if err := c.dec.Decode(&r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// call sends a request and decodes the result into out; a failure is
// returned as an error "code: message".
func (c *client) call(method string, params, out any) error {
	c.t.Helper()
	id := c.send(method, params)
	r := c.read()
	if r.ID != id {
		c.t.Fatalf("%s: reply id %q, want %q", method, r.ID, id)
	}
	if r.Error != nil {
		return fmt.Errorf("%d: %s", r.Error.Code, r.Error.Message)
	}
	if out != nil {
		if err := cbor.Unmarshal(r.Result, out); err != nil {
			c.t.Fatalf("%s: result %x: %v", method, []byte(r.Result), err)
		}
	}
	return nil
}

func (c *client) mustCall(method string, params, out any) {
	c.t.Helper()
	if err := c.call(method, params, out); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

// signPSBT runs sign_psbt with its get_extended_data loop.
func (c *client) signPSBT(network string, psbt []byte) ([]byte, int, error) {
	c.t.Helper()
	id := c.send("sign_psbt", map[string]any{"network": network, "psbt": psbt})
	var out []byte
	replies := 0
	for {
		r := c.read()
		replies++
		if r.Error != nil {
			return nil, replies, fmt.Errorf("%d: %s", r.Error.Code, r.Error.Message)
		}
		var part []byte
		if err := cbor.Unmarshal(r.Result, &part); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, part...)
		if r.SeqNum == r.SeqLen {
			return out, replies, nil
		}
		c.send("get_extended_data", map[string]any{"origid": id, "orig": "sign_psbt", "seqnum": r.SeqNum + 1, "seqlen": r.SeqLen})
	}
}

// vector reads a transcribed file of Jade's test data.
func vector(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "jade", name))
	if err != nil {
		t.Fatalf("Jade's test data is part of the repository: %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
