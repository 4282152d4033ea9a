package jade

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/countersign/countersign/hw/transport"
)

// link carries requests and replies over one byte stream: the layer of
// jadepy's JadeInterface (build_request, write_request, read_response,
// validate_reply). One goroutine reads replies as they come, so a call
// can stop waiting when its context ends without losing its place in the
// stream; a reply that comes after its caller gave up carries an id no
// one waits for and is dropped.
type link struct {
	conn   io.ReadWriteCloser
	prefix string // random per link: ids of an earlier session never match
	seq    uint64

	replies chan *reply
	quit    chan struct{} // closed by close
	dead    chan struct{} // closed when the reader stops
	readErr error         // why it stopped; read after dead is closed

	wmu       sync.Mutex
	closeOnce sync.Once

	stats Stats
	smu   sync.Mutex
}

// Stats counts one link's traffic.
type Stats struct {
	Requests, Replies int
	Stale             int // replies to requests whose caller had given up
	Logs              int // debug log lines skipped
	BytesOut, BytesIn int
}

func newLink(conn io.ReadWriteCloser) *link {
	var p [3]byte
	_, _ = rand.Read(p[:])
	l := &link{conn: conn, prefix: hex.EncodeToString(p[:]), replies: make(chan *reply, 8), quit: make(chan struct{}), dead: make(chan struct{})}
	go l.read()
	return l
}

// read decodes messages until the stream fails; a malformed message ends
// the link too, since the stream's position is lost with it.
func (l *link) read() {
	defer close(l.dead)
	ir := newItemReader(countingReader{l}, MaxReply)
	for {
		item, err := ir.next()
		if err != nil {
			l.readErr = err
			return
		}
		r, err := decodeReply(item)
		if err != nil {
			l.readErr = err
			return
		}
		l.smu.Lock()
		if r.Log {
			l.stats.Logs++
		} else {
			l.stats.Replies++
		}
		l.smu.Unlock()
		if r.Log {
			continue
		}
		select {
		case l.replies <- r:
		case <-l.quit:
			return
		}
	}
}

type countingReader struct{ l *link }

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.l.conn.Read(p)
	c.l.smu.Lock()
	c.l.stats.BytesIn += n
	c.l.smu.Unlock()
	return n, err
}

// nextID returns a fresh request id: at most 16 characters, as the
// firmware requires (MAXLEN_ID).
func (l *link) nextID() string {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.seq++
	return fmt.Sprintf("%s-%d", l.prefix, l.seq)
}

// request is the map the firmware reads: id, method and params.
type request struct {
	ID     string `cbor:"id"`
	Method string `cbor:"method"`
	Params any    `cbor:"params,omitempty"`
}

// send writes one request and returns its id.
func (l *link) send(ctx context.Context, method string, params any) (string, error) {
	id := l.nextID()
	b, err := encMode.Marshal(request{ID: id, Method: method, Params: params})
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", method, err)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	select {
	case <-l.dead:
		return "", l.deadErr()
	default:
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if d, ok := l.conn.(interface{ SetWriteDeadline(time.Time) error }); ok {
		dl, _ := ctx.Deadline()
		_ = d.SetWriteDeadline(dl)
		defer d.SetWriteDeadline(time.Time{})
	}
	if _, err := l.conn.Write(b); err != nil {
		switch {
		case ctx.Err() != nil:
			return "", ctx.Err()
		case errors.Is(err, io.ErrClosedPipe), errors.Is(err, net.ErrClosed):
			return "", fmt.Errorf("send %s: %v: %w", method, err, transport.ErrClosed)
		}
		return "", fmt.Errorf("send %s: %w", method, err)
	}
	l.smu.Lock()
	l.stats.Requests++
	l.stats.BytesOut += len(b)
	l.smu.Unlock()
	return id, nil
}

func (l *link) deadErr() error {
	err := l.readErr
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("the connection to the Jade closed: %w", transport.ErrClosed)
	}
	return fmt.Errorf("the connection to the Jade failed: %w", err)
}

// await returns the reply to id. The firmware answers an unparsable
// request with id "00"; that counts as the reply to the request waited
// for.
func (l *link) await(ctx context.Context, id string) (*reply, error) {
	for {
		select {
		case r := <-l.replies:
			if r.ID == id || r.ID == "00" && r.Error != nil {
				return r, nil
			}
			l.smu.Lock()
			l.stats.Stale++
			l.smu.Unlock()
		case <-l.dead:
			// Replies read before the stream ended are still delivered.
			select {
			case r := <-l.replies:
				if r.ID == id || r.ID == "00" && r.Error != nil {
					return r, nil
				}
				continue
			default:
			}
			return nil, l.deadErr()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// call sends a request and waits for its reply; an error reply is
// returned as *RPCError.
func (l *link) call(ctx context.Context, method string, params any) (*reply, error) {
	id, err := l.send(ctx, method, params)
	if err != nil {
		return nil, err
	}
	r, err := l.await(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Error != nil {
		return r, r.Error
	}
	return r, nil
}

// callInto is call with the result decoded into out.
func (l *link) callInto(ctx context.Context, method string, params, out any) error {
	r, err := l.call(ctx, method, params)
	if err != nil {
		return err
	}
	if r.SeqLen > 1 {
		return fmt.Errorf("%s: the Jade sent a result in %d pieces where one was expected", method, r.SeqLen)
	}
	if err := decMode.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("%s: unexpected result from the Jade: %w", method, err)
	}
	return nil
}

// callSequence calls method and collects a byte-string result that the
// device may send in pieces, fetching each further piece with
// get_extended_data (docs/index.rst "get_extended_data request";
// main/process/sign_psbt.c, sign_psbt_process): origid and orig name the
// original request, seqnum the next piece, which must be the last one
// received plus one, seqlen the count the device announced.
func (l *link) callSequence(ctx context.Context, method string, params any, max int) ([]byte, int, error) {
	id, err := l.send(ctx, method, params)
	if err != nil {
		return nil, 0, err
	}
	var out []byte
	pieces := 0
	awaitID := id
	for {
		r, err := l.await(ctx, awaitID)
		if err != nil {
			return nil, pieces, err
		}
		if r.Error != nil {
			return nil, pieces, r.Error
		}
		var part []byte
		if err := decMode.Unmarshal(r.Result, &part); err != nil {
			return nil, pieces, fmt.Errorf("%s: the Jade's result is not bytes: %w", method, err)
		}
		pieces++
		if len(out)+len(part) > max {
			return nil, pieces, fmt.Errorf("%s: the Jade's result exceeds %d bytes", method, max)
		}
		out = append(out, part...)
		switch {
		case r.SeqLen == 0 || r.SeqNum == r.SeqLen:
			return out, pieces, nil
		case r.SeqNum != uint64(pieces):
			return nil, pieces, fmt.Errorf("%s: the Jade sent piece %d of %d where %d was due", method, r.SeqNum, r.SeqLen, pieces)
		}
		awaitID, err = l.send(ctx, "get_extended_data", map[string]any{
			"origid": id, "orig": method, "seqnum": r.SeqNum + 1, "seqlen": r.SeqLen,
		})
		if err != nil {
			return nil, pieces, err
		}
	}
}

func (l *link) close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.quit)
		err = l.conn.Close()
	})
	return err
}

func (l *link) snapshot() Stats {
	l.smu.Lock()
	defer l.smu.Unlock()
	return l.stats
}
