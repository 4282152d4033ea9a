package jade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"

	"github.com/countersign/countersign/hw"
)

// USB identifiers (jadepy/jade_serial.py, JADE_DEVICE_IDS, and the
// firmware's TinyUSB configuration for Jade Plus,
// configs/production/sdkconfig_jade_v2_prod.defaults).
var usbIDs = []struct {
	vid, pid string
	product  string // required in the USB product string, when set
}{
	{"10C4", "EA60", ""},     // Jade 1: Silicon Labs CP210x bridge
	{"1A86", "55D4", ""},     // Jade 1.1: WCH CH9102 bridge
	{"303A", "4001", "Jade"}, // Jade Plus: ESP32-S3 TinyUSB CDC ("Jade Plus")
}

// Baud is the serial speed of every Jade (jadepy's default).
const Baud = 115200

// EnvEmulator overrides the emulator's TCP address (comma-separated for
// several).
const EnvEmulator = "COUNTERSIGN_JADE_EMULATOR"

// DefaultEmulatorAddr is where the vendor's QEMU image listens.
const DefaultEmulatorAddr = "127.0.0.1:30121"

// DriverOptions configure the driver the registry uses.
type DriverOptions struct {
	// PINRelay relays a locked Jade's PIN-server requests; nil keeps
	// countersign off the network (a locked Jade is then an error).
	PINRelay     *http.Client
	ReplyTimeout time.Duration
	// Network is the network countersign works on, when the user said.
	Network *chaincfg.Params
}

// Driver describes the Jade family for hw.NewRegistry without a PIN relay.
func Driver() hw.Driver { return NewDriver(DriverOptions{}) }

// NewDriver describes the Jade family for hw.NewRegistry: USB serial
// ports found by their USB identifiers (serial ports are not HID, so they
// are listed by Extra), and the emulator's TCP endpoint
// (COUNTERSIGN_JADE_EMULATOR, default 127.0.0.1:30121).
func NewDriver(o DriverOptions) hw.Driver {
	return hw.Driver{
		Type:     "jade",
		Emulator: &hw.EmulatorEndpoint{Transport: "tcp", Env: EnvEmulator, Default: DefaultEmulatorAddr},
		Extra:    SerialEndpoints,
		Open: func(ctx context.Context, ep hw.Endpoint, prompt hw.Prompter) (hw.Device, error) {
			conn, err := openEndpoint(ctx, ep)
			if err != nil {
				return nil, &hw.Error{Device: "jade at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: err}
			}
			return Open(ctx, conn, Options{Prompt: prompt, PINRelay: o.PINRelay, ReplyTimeout: o.ReplyTimeout, Network: o.Network, Endpoint: ep})
		},
	}
}

// SerialEndpoints lists the USB serial ports that carry a Jade's USB
// identifiers.
func SerialEndpoints() ([]hw.Endpoint, error) {
	probe := func(vid, pid string) bool { return strings.EqualFold(vid, "303A") }
	ports, err := enumerator.GetDetailedPortsList(probe)
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	var eps []hw.Endpoint
	for _, p := range ports {
		if p.IsUSB && isJade(p.VID, p.PID, p.Product) {
			eps = append(eps, hw.Endpoint{Transport: "serial", Path: p.Name})
		}
	}
	return eps, nil
}

func isJade(vid, pid, product string) bool {
	for _, id := range usbIDs {
		if strings.EqualFold(vid, id.vid) && strings.EqualFold(pid, id.pid) && (id.product == "" || strings.Contains(product, id.product)) {
			return true
		}
	}
	return false
}

// openEndpoint connects the byte stream an endpoint names.
func openEndpoint(ctx context.Context, ep hw.Endpoint) (io.ReadWriteCloser, error) {
	switch ep.Transport {
	case "tcp":
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ep.Path)
	case "serial":
		return OpenSerial(ep.Path)
	}
	return nil, fmt.Errorf("a Jade cannot be reached over %q", ep.Transport)
}

// OpenSerial opens a Jade's serial port at 115200 baud with RTS and DTR
// low: jadepy clears both, since toggling them can reset the device.
func OpenSerial(path string) (io.ReadWriteCloser, error) {
	port, err := serial.Open(path, &serial.Mode{BaudRate: Baud, InitialStatusBits: &serial.ModemOutputBits{}})
	if err != nil && strings.Contains(err.Error(), "modem bits") {
		// A port without modem lines (a pseudo-terminal, some bridges):
		// nothing there can reset the device.
		port, err = serial.Open(path, &serial.Mode{BaudRate: Baud})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := port.SetReadTimeout(serial.NoTimeout); err != nil {
		port.Close()
		return nil, err
	}
	s := &serialConn{port: port}
	s.drain()
	return s, nil
}

// serialConn adapts a serial port to the stream the link reads: a closed
// or unplugged port ends the stream (io.EOF) rather than failing with the
// serial package's own error.
type serialConn struct {
	port   serial.Port
	mu     sync.Mutex
	closed bool
}

// drain discards what an earlier session left in the port's buffers, so
// the first reply read starts at an item boundary.
func (s *serialConn) drain() {
	_ = s.port.ResetInputBuffer()
	_ = s.port.SetReadTimeout(50 * time.Millisecond)
	buf := make([]byte, 4096)
	for i := 0; i < 20; i++ {
		n, err := s.port.Read(buf)
		if n == 0 || err != nil {
			break
		}
	}
	_ = s.port.SetReadTimeout(serial.NoTimeout)
}

func (s *serialConn) Read(p []byte) (int, error) {
	for {
		n, err := s.port.Read(p)
		if err != nil {
			var pe *serial.PortError
			if errors.As(err, &pe) {
				return n, fmt.Errorf("jade serial port: %v: %w", err, io.EOF)
			}
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return 0, io.EOF
		}
	}
}

func (s *serialConn) Write(p []byte) (int, error) { return s.port.Write(p) }

func (s *serialConn) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.port.Close()
}
