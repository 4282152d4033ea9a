package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// maxDatagram bounds what a datagram read accepts. Anything longer than a
// report is a protocol violation the caller should see, so reads take a
// little more than ReportSize and return what came.
const maxDatagram = 4 * ReportSize

// Unixgram is the host end of a unix datagram socket, the way the Coldcard
// simulator takes USB traffic: each 64-byte report is one datagram, sent to
// the simulator's socket from a socket the client binds to its own file name
// (the simulator replies to the sender's address, so it must have a name).
//
// The client socket is not connected: every report is addressed to the
// server's path. A simulator that restarts rebinds the same path, so the next
// report reaches the new instance, which then reports a framing error instead
// of the host waiting forever on a socket nobody reads.
type Unixgram struct {
	conn   *net.UnixConn
	server *net.UnixAddr
	local  string
	unlock func()
	once   sync.Once
}

// DialUnixgram opens a client socket towards the datagram socket at server.
// local names the client's own socket file; "" picks a fresh name in the
// temporary directory. The server's path is locked for this process (a lock
// file beside it) so that a device scan from another countersign process
// cannot re-key a session that is waiting for a confirmation.
func DialUnixgram(server, local string) (*Unixgram, error) {
	st, err := os.Stat(server)
	if err != nil {
		return nil, fmt.Errorf("transport: unix socket %s: %w", server, err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("transport: %s is not a socket", server)
	}
	unlock, err := lockPath(server + ".lock")
	if err != nil {
		return nil, err
	}
	if local == "" {
		local, err = tempSocketName()
		if err != nil {
			unlock()
			return nil, err
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"})
	if err != nil {
		unlock()
		return nil, fmt.Errorf("transport: bind client socket %s: %w", local, err)
	}
	return &Unixgram{
		conn:   conn,
		server: &net.UnixAddr{Name: server, Net: "unixgram"},
		local:  local,
		unlock: unlock,
	}, nil
}

// tempSocketName returns an unused socket path. The name stays short because
// unix socket paths are limited to about 100 bytes.
func tempSocketName() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("transport: socket name: %w", err)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("countersign-%d-%s.sock", os.Getpid(), hex.EncodeToString(b[:]))), nil
}

// LocalPath is the client socket's file name.
func (u *Unixgram) LocalPath() string { return u.local }

// Write sends one report as one datagram to the server's path.
func (u *Unixgram) Write(ctx context.Context, report []byte) error {
	if err := checkReport(report); err != nil {
		return err
	}
	return withDeadline(ctx, u.conn.SetWriteDeadline, func() error {
		_, err := u.conn.WriteToUnix(report, u.server)
		if err != nil {
			return fmt.Errorf("transport: send to %s: %w", u.server.Name, err)
		}
		return nil
	})
}

// Read returns the next datagram from the server. Datagrams from any other
// sender are dropped: only the device may speak on this socket.
func (u *Unixgram) Read(ctx context.Context) ([]byte, error) {
	buf := make([]byte, maxDatagram)
	var out []byte
	err := withDeadline(ctx, u.conn.SetReadDeadline, func() error {
		for {
			n, from, err := u.conn.ReadFromUnix(buf)
			if err != nil {
				return err
			}
			if from == nil || from.Name != u.server.Name {
				continue
			}
			out = append([]byte(nil), buf[:n]...)
			return nil
		}
	})
	return out, err
}

// Close closes the socket, removes its file and releases the lock.
func (u *Unixgram) Close() error {
	var err error
	u.once.Do(func() {
		err = u.conn.Close()
		if rmErr := os.Remove(u.local); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
			err = rmErr
		}
		u.unlock()
	})
	return err
}

// UnixgramServer is the device end of a unix datagram socket: it binds the
// well-known path and answers whoever sent the last datagram, as the Coldcard
// simulator does. Emulators serve their protocol over it.
type UnixgramServer struct {
	conn *net.UnixConn
	path string

	mu   sync.Mutex
	peer *net.UnixAddr
	once sync.Once
}

// ListenUnixgram binds path. A leftover socket file (a previous run that was
// killed) is removed first, the way the vendor simulator claims its path.
func ListenUnixgram(path string) (*UnixgramServer, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("transport: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("transport: remove stale socket %s: %w", path, err)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", path, err)
	}
	return &UnixgramServer{conn: conn, path: path}, nil
}

// Path is the socket file the server is bound to.
func (s *UnixgramServer) Path() string { return s.path }

// Read returns the next datagram from any client and makes that client the
// one replies go to. Unnamed senders cannot be answered and are dropped.
func (s *UnixgramServer) Read(ctx context.Context) ([]byte, error) {
	buf := make([]byte, maxDatagram)
	var out []byte
	err := withDeadline(ctx, s.conn.SetReadDeadline, func() error {
		for {
			n, from, err := s.conn.ReadFromUnix(buf)
			if err != nil {
				return err
			}
			if from == nil || from.Name == "" {
				continue
			}
			s.mu.Lock()
			s.peer = from
			s.mu.Unlock()
			out = append([]byte(nil), buf[:n]...)
			return nil
		}
	})
	return out, err
}

// Write sends one report to the client that spoke last.
func (s *UnixgramServer) Write(ctx context.Context, report []byte) error {
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
		_, err := s.conn.WriteToUnix(report, peer)
		if err != nil {
			return fmt.Errorf("transport: reply to %s: %w", peer.Name, err)
		}
		return nil
	})
}

// Close closes the socket and removes its file.
func (s *UnixgramServer) Close() error {
	var err error
	s.once.Do(func() {
		err = s.conn.Close()
		if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
			err = rmErr
		}
	})
	return err
}
