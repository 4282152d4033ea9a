package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// exchange checks that reports cross a connected pair intact and in order,
// both ways.
func exchange(t *testing.T, a, b Transport) {
	t.Helper()
	ctx := ctxT(t)
	for i := 1; i <= 5; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, i*10)
		if err := a.Write(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got, err := b.Read(ctx)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("a->b report %d: %x %v", i, got, err)
		}
		if err := b.Write(ctx, msg[:1]); err != nil {
			t.Fatal(err)
		}
		got, err = a.Read(ctx)
		if err != nil || !bytes.Equal(got, msg[:1]) {
			t.Fatalf("b->a report %d: %x %v", i, got, err)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, ReportSize+1)} {
		if err := a.Write(ctx, bad); err == nil {
			t.Fatalf("report of %d bytes accepted", len(bad))
		}
	}
}

// readCancels checks that a blocked Read returns ctx's error.
func readCancels(t *testing.T, tr Transport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Read(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked Read: %v, want deadline exceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Read ignored its deadline")
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := tr.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Read: %v", err)
	}
}

func TestPipe(t *testing.T) {
	a, b := Pipe()
	exchange(t, a, b)
	readCancels(t, a)

	// The writer's buffer is copied.
	ctx := ctxT(t)
	buf := []byte{1, 2, 3}
	a.Write(ctx, buf)
	buf[0] = 9
	if got, _ := b.Read(ctx); got[0] != 1 {
		t.Fatal("pipe shares the writer's buffer")
	}
	// Closing one end: queued reports are still delivered, then ErrClosed
	// on both ends.
	a.Write(ctx, []byte{7})
	a.Close()
	if got, err := b.Read(ctx); err != nil || got[0] != 7 {
		t.Fatalf("queued report after close: %x %v", got, err)
	}
	if _, err := b.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := b.Write(ctx, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after peer close: %v", err)
	}
}

func shortTemp(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestUnixgram(t *testing.T) {
	dir := shortTemp(t)
	path := filepath.Join(dir, "sim.sock")
	srv, err := ListenUnixgram(path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := ctxT(t)
	if err := srv.Write(ctx, []byte{1}); err == nil {
		t.Fatal("server wrote before any client spoke")
	}
	cli, err := DialUnixgram(path, filepath.Join(dir, "cli.sock"))
	if err != nil {
		t.Fatal(err)
	}
	// The server answers whoever spoke last, so the client speaks first.
	exchange(t, cli, srv)
	readCancels(t, cli)

	// One client per device: the lock file keeps a second one out.
	if _, err := DialUnixgram(path, ""); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second client: %v", err)
	}

	// Datagrams from anyone but the server are dropped by the client.
	stranger, err := net.DialUnix("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "x.sock"), Net: "unixgram"}, &net.UnixAddr{Name: cli.LocalPath(), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	stranger.Write([]byte("spoofed"))
	stranger.Close()
	srv.Write(ctx, []byte("real"))
	if got, err := cli.Read(ctx); err != nil || string(got) != "real" {
		t.Fatalf("client read %q %v", got, err)
	}

	// A restarted server on the same path is reached by the same client.
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("server left its socket file: %v", err)
	}
	srv2, err := ListenUnixgram(path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	exchange(t, cli, srv2)

	local := cli.LocalPath()
	cli.Close()
	if _, err := os.Stat(local); !os.IsNotExist(err) {
		t.Fatal("client left its socket file")
	}
	// The lock went with it.
	cli2, err := DialUnixgram(path, "")
	if err != nil {
		t.Fatal(err)
	}
	cli2.Close()
}

func TestUnixgramPaths(t *testing.T) {
	dir := shortTemp(t)
	if _, err := DialUnixgram(filepath.Join(dir, "none.sock"), ""); err == nil {
		t.Fatal("dialled a missing socket")
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := DialUnixgram(file, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("dialled a regular file: %v", err)
	}
	if _, err := ListenUnixgram(file); err == nil {
		t.Fatal("listened over a regular file")
	}
	// A stale socket file from a killed run is replaced.
	stale := filepath.Join(dir, "stale.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: stale, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv, err := ListenUnixgram(stale)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	srv.Close()
}

func TestUDP(t *testing.T) {
	srv, err := ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := DialUDP(ctxT(t), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	exchange(t, cli, srv)
	readCancels(t, cli)
	cli.Close()
	if _, err := cli.Read(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *Stream, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// The device end answers like Speculos: the status word after the
		// counted data.
		accepted <- NewStream(c, StreamOptions{WriteTrailer: 2, MaxMessage: 300})
	}()
	ctx := ctxT(t)
	cli, err := DialTCP(ctx, ln.Addr().String(), StreamOptions{ReadTrailer: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	dev := <-accepted
	defer dev.Close()

	apdu := []byte{0xe0, 0x01, 0, 0, 0}
	if err := cli.WriteMessage(ctx, apdu); err != nil {
		t.Fatal(err)
	}
	got, err := dev.ReadMessage(ctx)
	if err != nil || !bytes.Equal(got, apdu) {
		t.Fatalf("device read %x %v", got, err)
	}
	resp := []byte{1, 2, 3, 0x90, 0x00}
	if err := dev.WriteMessage(ctx, resp); err != nil {
		t.Fatal(err)
	}
	got, err = cli.ReadMessage(ctx)
	if err != nil || !bytes.Equal(got, resp) {
		t.Fatalf("host read %x %v", got, err)
	}
	if err := dev.WriteMessage(ctx, []byte{1}); err == nil {
		t.Fatal("message shorter than its trailer accepted")
	}

	// A length prefix over the limit is refused before allocating.
	if err := cli.WriteMessage(ctx, make([]byte, 301)); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.ReadMessage(ctx); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized message: %v", err)
	}

	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := cli.ReadMessage(rctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked ReadMessage: %v", err)
	}
}

func TestEnumerateHIDDoesNotFail(t *testing.T) {
	// No USB device is expected here; the call must answer either way.
	if _, err := EnumerateHID(0xd13e, 0xcc10); err != nil {
		t.Logf("USB enumeration unavailable here: %v", err)
	}
	if _, err := OpenHID("/nonexistent"); err == nil {
		t.Fatal("opened a nonexistent HID path")
	}
}
