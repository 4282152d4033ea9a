//go:build linux

package jade

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/jade"
)

// openPTY returns the master side of a new pseudo-terminal and the path of
// its slave, a serial port as far as the serial package can tell.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("TIOCGPTN: %v", e)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("TIOCSPTLCK: %v", e)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// TestSerialPort runs the driver through OpenSerial on a pseudo-terminal
// whose other side is the emulator: the serial port settings (raw mode,
// 115200 baud), the drain at open and the framing over a real tty.
func TestSerialPort(t *testing.T) {
	master, slave := openPTY(t)
	e := startEmulator(t, emu.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.ServeConn(ctx, master) }()
	t.Cleanup(func() { cancel(); master.Close(); <-done })

	conn, err := OpenSerial(slave)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Open(testCtx(t), conn, Options{Endpoint: hw.Endpoint{Transport: "serial", Path: slave}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fp := e.Fingerprint()
	if got, _ := j.Fingerprint(testCtx(t)); got != fp {
		t.Fatalf("fingerprint %x, want %x", got, fp)
	}
	d := newDescriptor(t, descriptor.ScriptShWsh, true)
	w := wallet(d, "serial")
	s := hw.NewSigner(j)
	if _, err := s.Register(testCtx(t), w); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DisplayAddress(testCtx(t), w, 0, 2); err != nil {
		t.Fatal(err)
	}
	res, err := s.Sign(testCtx(t), buildPSBT(t, d, 12), w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 12 {
		t.Fatalf("%d signatures", res.Added)
	}
}
