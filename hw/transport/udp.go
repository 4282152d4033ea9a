package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// UDP is the host end of a UDP report socket, the way the Trezor emulator
// takes USB traffic: each report is one datagram to a fixed host:port.
type UDP struct {
	conn *net.UDPConn
	once sync.Once
}

// DialUDP opens a UDP socket towards addr ("127.0.0.1:21324"). UDP has no
// handshake, so this succeeds whether or not anything listens; the first
// Read tells.
func DialUDP(ctx context.Context, addr string) (*UDP, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: udp %s: %w", addr, err)
	}
	return &UDP{conn: c.(*net.UDPConn)}, nil
}

// Write sends one report as one datagram.
func (u *UDP) Write(ctx context.Context, report []byte) error {
	if err := checkReport(report); err != nil {
		return err
	}
	return withDeadline(ctx, u.conn.SetWriteDeadline, func() error {
		_, err := u.conn.Write(report)
		return err
	})
}

// Read returns the next datagram from the peer.
func (u *UDP) Read(ctx context.Context) ([]byte, error) {
	buf := make([]byte, maxDatagram)
	var out []byte
	err := withDeadline(ctx, u.conn.SetReadDeadline, func() error {
		n, err := u.conn.Read(buf)
		if err != nil {
			return err
		}
		out = append([]byte(nil), buf[:n]...)
		return nil
	})
	return out, err
}

// Close closes the socket.
func (u *UDP) Close() error {
	var err error
	u.once.Do(func() { err = u.conn.Close() })
	return err
}

// UDPServer is the device end of a UDP report socket: it answers whoever sent
// the last datagram, as the Trezor emulator does.
type UDPServer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	peer *net.UDPAddr
	once sync.Once
}

// ListenUDP binds addr ("127.0.0.1:0" picks a free port; see Addr).
func ListenUDP(addr string) (*UDPServer, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: udp %s: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("transport: listen udp %s: %w", addr, err)
	}
	return &UDPServer{conn: c}, nil
}

// Addr is the bound address.
func (s *UDPServer) Addr() string { return s.conn.LocalAddr().String() }

// Read returns the next datagram and remembers its sender for Write.
func (s *UDPServer) Read(ctx context.Context) ([]byte, error) {
	buf := make([]byte, maxDatagram)
	var out []byte
	err := withDeadline(ctx, s.conn.SetReadDeadline, func() error {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.peer = from
		s.mu.Unlock()
		out = append([]byte(nil), buf[:n]...)
		return nil
	})
	return out, err
}

// Write sends one report to the client that spoke last.
func (s *UDPServer) Write(ctx context.Context, report []byte) error {
	if err := checkReport(report); err != nil {
		return err
	}
	s.mu.Lock()
	peer := s.peer
	s.mu.Unlock()
	if peer == nil {
		return errors.New("transport: no client has spoken yet")
	}
	return withDeadline(ctx, s.conn.SetWriteDeadline, func() error {
		_, err := s.conn.WriteToUDP(report, peer)
		return err
	})
}

// Close closes the socket.
func (s *UDPServer) Close() error {
	var err error
	s.once.Do(func() { err = s.conn.Close() })
	return err
}
