package transport

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// Many short reads that time out, each followed by a read that must see
// its own deadline only: a late cancellation callback must not leak into it.
func TestStaleDeadlineDoesNotLeak(t *testing.T) {
	dir := shortTemp(t)
	path := filepath.Join(dir, "s.sock")
	srv, err := ListenUnixgram(path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := DialUnixgram(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i := 0; i < 300; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		cli.Read(ctx)
		cancel()
		cli.Write(context.Background(), []byte{1})
		srv.Read(context.Background())
		srv.Write(context.Background(), []byte{2})
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := cli.Read(ctx); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		cancel()
	}
}
