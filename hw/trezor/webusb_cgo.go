//go:build cgo

package trezor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/karalabe/usb"

	"github.com/countersign/countersign/hw/transport"
)

// WebUSB access lives here until hw/transport offers raw (non-HID) USB; it
// uses the same library (github.com/karalabe/usb) the HID transport does.

// webUSBInterface is the interface that carries the wire protocol;
// interface 1 is the debug link.
const webUSBInterface = 0

// EnumerateWebUSB lists the Trezors attached over WebUSB (firmware and
// bootloader). Each entry's Path is what OpenWebUSB takes.
func EnumerateWebUSB() ([]transport.HIDInfo, error) {
	if !usb.Supported() {
		return nil, errors.New("USB is not supported on this platform")
	}
	var out []transport.HIDInfo
	for _, pid := range []uint16{ProductIDWebUSB, ProductIDBootloader} {
		devs, err := usb.EnumerateRaw(VendorIDWebUSB, pid)
		if err != nil {
			return nil, fmt.Errorf("enumerate WebUSB devices: %w", err)
		}
		for _, d := range devs {
			if d.Interface != webUSBInterface {
				continue
			}
			out = append(out, transport.HIDInfo{
				Path: d.Path, VendorID: d.VendorID, ProductID: d.ProductID,
				Serial: d.Serial, Manufacturer: d.Manufacturer, Product: d.Product, Interface: d.Interface,
			})
		}
	}
	return out, nil
}

// OpenWebUSB opens the Trezor at path (from EnumerateWebUSB).
func OpenWebUSB(path string) (transport.Transport, error) {
	if !usb.Supported() {
		return nil, errors.New("USB is not supported on this platform")
	}
	for _, pid := range []uint16{ProductIDWebUSB, ProductIDBootloader} {
		devs, err := usb.EnumerateRaw(VendorIDWebUSB, pid)
		if err != nil {
			return nil, fmt.Errorf("enumerate WebUSB devices: %w", err)
		}
		for _, d := range devs {
			if d.Path != path || d.Interface != webUSBInterface {
				continue
			}
			dev, err := d.Open()
			if err != nil {
				return nil, fmt.Errorf("open WebUSB device %s: %w (on Linux, install the Trezor udev rules)", path, err)
			}
			return &webUSB{dev: dev, results: make(chan webUSBRead, 1)}, nil
		}
	}
	return nil, fmt.Errorf("no Trezor on WebUSB at %s", path)
}

type webUSBRead struct {
	report []byte
	err    error
}

// webUSB adapts a karalabe/usb raw device. Its Read and Write share one
// lock and an interrupt transfer without timeout, so a pending read blocks
// writes and Close until the device sends something. Reads therefore run in
// a goroutine that Read waits on (or on ctx); Write refuses to start while
// such a read is pending instead of hanging; and Close leaves the handle to
// a pending read's goroutine to close when the read returns.
type webUSB struct {
	dev usb.Device

	mu       sync.Mutex
	inflight bool
	closed   bool
	results  chan webUSBRead
}

func (w *webUSB) Write(ctx context.Context, report []byte) error {
	if len(report) == 0 || len(report) > transport.ReportSize {
		return fmt.Errorf("report of %d bytes", len(report))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	closed, inflight := w.closed, w.inflight
	w.mu.Unlock()
	if closed {
		return transport.ErrClosed
	}
	if inflight {
		return errors.New("WebUSB: the device has not answered an earlier request yet (finish or cancel on the device, or reconnect it)")
	}
	buf := make([]byte, transport.ReportSize)
	copy(buf, report)
	n, err := w.dev.Write(buf)
	if err != nil {
		return fmt.Errorf("WebUSB write: %w", err)
	}
	if n != transport.ReportSize {
		return fmt.Errorf("WebUSB write: short write (%d of %d bytes)", n, transport.ReportSize)
	}
	return nil
}

func (w *webUSB) Read(ctx context.Context) ([]byte, error) {
	select {
	case r := <-w.results:
		return r.report, r.err
	default:
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, transport.ErrClosed
	}
	if !w.inflight {
		w.inflight = true
		go w.readOnce()
	}
	w.mu.Unlock()
	select {
	case r := <-w.results:
		return r.report, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *webUSB) readOnce() {
	buf := make([]byte, transport.ReportSize)
	n, err := w.dev.Read(buf)
	w.mu.Lock()
	w.inflight = false
	closed := w.closed
	w.mu.Unlock()
	if closed {
		w.dev.Close()
		return
	}
	r := webUSBRead{report: buf[:n]}
	if err != nil {
		r = webUSBRead{err: fmt.Errorf("WebUSB read: %w", err)}
	}
	w.results <- r
}

func (w *webUSB) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if !w.inflight {
		return w.dev.Close()
	}
	return nil
}
