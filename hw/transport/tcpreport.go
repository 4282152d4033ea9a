package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
)

// TCPReports carries fixed 64-byte reports back to back over a TCP stream,
// with no length prefix: the shape of the BitBox02 simulator's socket
// (bitbox02-firmware test/simulator/simulator.c reads and writes
// USB_HID_REPORT_OUT_SIZE bytes at a time; py/send_message.py's Simulator
// class sends each HID report without its report-ID byte). A short report
// is padded with zeros to ReportSize, as a USB HID report would be.
type TCPReports struct {
	conn net.Conn
	rmu  sync.Mutex
	wmu  sync.Mutex
	once sync.Once
}

// DialTCPReports connects to addr ("127.0.0.1:15423").
func DialTCPReports(ctx context.Context, addr string) (*TCPReports, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: tcp %s: %w", addr, err)
	}
	return NewTCPReports(c), nil
}

// NewTCPReports carries reports on an established connection; emulators use
// it on the connections they accept.
func NewTCPReports(conn net.Conn) *TCPReports { return &TCPReports{conn: conn} }

// Write sends one report, padded to ReportSize.
func (t *TCPReports) Write(ctx context.Context, report []byte) error {
	if err := checkReport(report); err != nil {
		return err
	}
	buf := make([]byte, ReportSize)
	copy(buf, report)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return withDeadline(ctx, t.conn.SetWriteDeadline, func() error {
		_, err := t.conn.Write(buf)
		return err
	})
}

// Read returns the next ReportSize bytes of the stream. A stream that ends
// in the middle of a report is io.ErrUnexpectedEOF.
func (t *TCPReports) Read(ctx context.Context) ([]byte, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	buf := make([]byte, ReportSize)
	err := withDeadline(ctx, t.conn.SetReadDeadline, func() error {
		_, err := io.ReadFull(t.conn, buf)
		return err
	})
	if err != nil {
		return nil, err
	}
	return buf, nil
}

// Close closes the connection.
func (t *TCPReports) Close() error {
	var err error
	t.once.Do(func() { err = t.conn.Close() })
	return err
}

// TCPReportListener accepts report connections: the device end of the
// simulator's socket.
type TCPReportListener struct {
	ln net.Listener
}

// ListenTCPReports binds addr ("127.0.0.1:0" picks a free port; see Addr).
func ListenTCPReports(addr string) (*TCPReportListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen tcp %s: %w", addr, err)
	}
	return &TCPReportListener{ln: ln}, nil
}

// Addr is the bound address.
func (l *TCPReportListener) Addr() string { return l.ln.Addr().String() }

// Accept waits for the next connection; ending ctx or closing the listener
// stops the wait.
func (l *TCPReportListener) Accept(ctx context.Context) (*TCPReports, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.ln.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, netError(ctx, r.err)
		}
		return NewTCPReports(r.c), nil
	case <-ctx.Done():
		l.ln.Close()
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		return nil, ctx.Err()
	}
}

// Close stops listening.
func (l *TCPReportListener) Close() error { return l.ln.Close() }
