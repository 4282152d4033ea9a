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

// openPTY returns both sides of a new pseudo-terminal and a path that
// opens the slave, a serial port as far as the serial package can tell.
func openPTY(t *testing.T) (master, slave *os.File, path string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("TIOCSPTLCK: %v", e)
	}
	// Open the slave through the master (TIOCGPTPEER, Linux 4.13) and name
	// it by its descriptor: /dev/pts/N may be another devpts instance's
	// terminal in a container.
	const tiocgptpeer = 0x5441
	fd, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), tiocgptpeer, uintptr(syscall.O_RDWR|syscall.O_NOCTTY))
	if e != 0 {
		m.Close()
		t.Skipf("the pseudo-terminal's slave is not reachable: %v", e)
	}
	return m, os.NewFile(fd, "pty slave"), fmt.Sprintf("/proc/self/fd/%d", fd)
}

// TestSerialPort runs the driver through OpenSerial on a pseudo-terminal
// whose other side is the emulator: the serial port settings (raw mode,
// 115200 baud), the drain at open and the framing over a real tty.
func TestSerialPort(t *testing.T) {
	master, peer, slave := openPTY(t)
	e := startEmulator(t, emu.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.ServeConn(ctx, master) }()
	// The emulator's read on the master ends (EIO) once every descriptor
	// of the slave is closed.
	t.Cleanup(func() { cancel(); peer.Close(); <-done; master.Close() })

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
