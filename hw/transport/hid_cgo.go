//go:build cgo

package transport

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/karalabe/usb"
)

// EnumerateHID lists the HID interfaces with the given vendor and product
// IDs; a zero ID matches any.
func EnumerateHID(vendorID, productID uint16) ([]HIDInfo, error) {
	if !usb.Supported() {
		return nil, errors.New("transport: USB is not supported on this platform")
	}
	devs, err := usb.EnumerateHid(vendorID, productID)
	if err != nil {
		return nil, fmt.Errorf("transport: enumerate USB HID devices: %w", err)
	}
	out := make([]HIDInfo, 0, len(devs))
	for _, d := range devs {
		out = append(out, HIDInfo{
			Path: d.Path, VendorID: d.VendorID, ProductID: d.ProductID,
			Serial: d.Serial, Manufacturer: d.Manufacturer, Product: d.Product,
			UsagePage: d.UsagePage, Usage: d.Usage, Interface: d.Interface,
		})
	}
	return out, nil
}

// OpenHID opens the HID interface at path (from EnumerateHID).
func OpenHID(path string) (Transport, error) {
	dev, err := usb.DeviceInfo{Path: path}.Open()
	if err != nil {
		return nil, fmt.Errorf("transport: open USB device %s: %w", path, err)
	}
	return &hidTransport{dev: dev, results: make(chan hidRead, 1)}, nil
}

type hidRead struct {
	report []byte
	err    error
}

// hidTransport adapts a karalabe/usb HID device. The library's Read blocks in
// C until a report arrives and cannot be interrupted, and closing the handle
// while a read waits in hidapi is a use-after-free. So reads run one at a
// time in a goroutine: Read waits for it or for ctx, and a Close that finds a
// read still waiting (the caller gave up on it) leaves the handle for that
// goroutine to close when the read returns.
type hidTransport struct {
	dev usb.Device

	mu       sync.Mutex // guards the fields below and is held across writes
	inflight bool       // a goroutine is inside dev.Read
	closed   bool
	results  chan hidRead // at most one finished read nobody has taken yet
}

func (h *hidTransport) Write(ctx context.Context, report []byte) error {
	if err := checkReport(report); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The lock is held across the write so Close cannot free the handle
	// under it; hidapi bounds a write to about a second.
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	// Every report on the wire is ReportSize bytes; pad like the device
	// expects. hidapi takes the report ID as the first byte: these devices
	// use unnumbered reports, so it is 0 and hidapi strips it (karalabe/usb
	// prepends it itself on Windows).
	buf := make([]byte, ReportSize, ReportSize+1)
	copy(buf, report)
	if runtime.GOOS != "windows" {
		buf = append([]byte{0}, buf...)
	}
	n, err := h.dev.Write(buf)
	if err != nil {
		return fmt.Errorf("transport: USB write: %w", err)
	}
	// Backends differ on whether the stripped ID byte is counted.
	if n < ReportSize {
		return fmt.Errorf("transport: USB write: short write (%d of %d bytes)", n, ReportSize)
	}
	return nil
}

func (h *hidTransport) Read(ctx context.Context) ([]byte, error) {
	select {
	case r := <-h.results:
		return r.report, r.err
	default:
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if !h.inflight {
		h.inflight = true
		go h.readOnce()
	}
	h.mu.Unlock()
	select {
	case r := <-h.results:
		return r.report, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *hidTransport) readOnce() {
	buf := make([]byte, ReportSize)
	n, err := h.dev.Read(buf)
	h.mu.Lock()
	h.inflight = false
	closed := h.closed
	h.mu.Unlock()
	if closed {
		h.dev.Close()
		return
	}
	r := hidRead{report: buf[:n]}
	if err != nil {
		r = hidRead{err: fmt.Errorf("transport: USB read: %w", err)}
	}
	h.results <- r
}

func (h *hidTransport) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if !h.inflight {
		return h.dev.Close()
	}
	return nil
}
