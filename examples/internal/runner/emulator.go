package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// ColdcardConfig says how to start one emulated Coldcard.
type ColdcardConfig struct {
	Binary   string // countersign-emulator
	Mnemonic string // the device's seed
	Socket   string // unix datagram socket to listen on
	LogPath  string // the emulator's output goes here
}

// Emulator is a running `countersign-emulator coldcard` process.
type Emulator struct {
	Fingerprint string // master key fingerprint, upper-case hex as the device shows it
	Socket      string

	cmd      *exec.Cmd
	logPath  string
	exited   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// emulatorStart bounds how long an emulator may take to say it listens.
const emulatorStart = 15 * time.Second

// stopGrace is how long a process has to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

var readyLine = regexp.MustCompile(`coldcard emulator ([0-9A-F]{8}) listening on (.+)`)

// StartColdcard starts an emulated Coldcard on the regtest network and
// waits for its "listening" line.
func StartColdcard(ctx context.Context, cfg ColdcardConfig) (*Emulator, error) {
	logFile, err := os.Create(cfg.LogPath)
	if err != nil {
		return nil, fmt.Errorf("runner: emulator log: %w", err)
	}
	ready := &firstLine{w: logFile, line: make(chan string, 1)}
	cmd := exec.Command(cfg.Binary, "coldcard", "--mnemonic", cfg.Mnemonic, "--socket", cfg.Socket, "--network", "regtest")
	cmd.Stdout = ready
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("runner: start %s: %w", cfg.Binary, err)
	}
	e := &Emulator{Socket: cfg.Socket, cmd: cmd, logPath: cfg.LogPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(e.exited)
	}()
	timer := time.NewTimer(emulatorStart)
	defer timer.Stop()
	select {
	case line := <-ready.line:
		m := readyLine.FindStringSubmatch(line)
		if m == nil {
			_ = e.Stop()
			return nil, fmt.Errorf("runner: the Coldcard emulator said %q, not that it listens", line)
		}
		e.Fingerprint = m[1]
		return e, nil
	case <-e.exited:
		out, _ := os.ReadFile(cfg.LogPath)
		return nil, fmt.Errorf("runner: the Coldcard emulator exited at start: %s", bytes.TrimSpace(out))
	case <-timer.C:
		_ = e.Stop()
		return nil, fmt.Errorf("runner: the Coldcard emulator did not start listening within %s (log: %s)", emulatorStart, cfg.LogPath)
	case <-ctx.Done():
		_ = e.Stop()
		return nil, ctx.Err()
	}
}

// PID is the emulator's process id.
func (e *Emulator) PID() int { return e.cmd.Process.Pid }

// Stop ends the emulator by its PID: SIGTERM (it removes its socket and
// exits), then SIGKILL after a grace period. Stop is idempotent.
func (e *Emulator) Stop() error {
	e.stopOnce.Do(func() {
		e.stopErr = stopProcess(e.cmd.Process, e.exited, "Coldcard emulator "+e.Fingerprint)
	})
	return e.stopErr
}

// stopProcess sends SIGTERM to p and waits for exited, then SIGKILL.
func stopProcess(p *os.Process, exited <-chan struct{}, name string) error {
	select {
	case <-exited:
		return nil
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("runner: stop %s (pid %d): %w", name, p.Pid, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopGrace):
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("runner: kill %s (pid %d): %w", name, p.Pid, err)
	}
	<-exited
	return nil
}

// firstLine passes everything to w and hands the first complete line to
// line.
type firstLine struct {
	w    io.Writer
	buf  []byte
	sent bool
	line chan string
}

func (f *firstLine) Write(p []byte) (int, error) {
	if !f.sent {
		f.buf = append(f.buf, p...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.line <- string(f.buf[:i])
			f.sent, f.buf = true, nil
		}
	}
	return f.w.Write(p)
}
