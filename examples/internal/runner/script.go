package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Script is a bash script running in the playground, in a process group of
// its own so that it and every command it started can be stopped together.
type Script struct {
	path     string
	cmd      *exec.Cmd
	exited   chan struct{}
	err      error // the exit status, set before exited is closed
	copies   sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// StartScript runs `bash PATH ARGS...` in the work folder with the
// session's environment and no stdin (so countersign never prompts).
func (s *Session) StartScript(path string, args []string, stdout, stderr io.Writer) (*Script, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", append([]string{abs}, args...)...)
	cmd.Dir = s.WorkDir
	cmd.Env = s.Env()
	cmd.SysProcAttr = groupAttr()
	sc := &Script{path: abs, cmd: cmd, exited: make(chan struct{})}
	// Output that is not a file goes through pipes this package copies
	// from, rather than through exec's own copying, so that the script's
	// exit is seen at once even if a command it left in the background
	// still holds the pipe (it is stopped then, which closes it).
	var parentEnds []*os.File
	pipe := func(w io.Writer) (*os.File, error) {
		if f, ok := w.(*os.File); ok {
			return f, nil
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		parentEnds = append(parentEnds, pw)
		sc.copies.Add(1)
		go func() {
			defer sc.copies.Done()
			defer r.Close()
			_, _ = io.Copy(w, r)
		}()
		return pw, nil
	}
	closeParentEnds := func() {
		for _, f := range parentEnds {
			f.Close()
		}
	}
	var err2 error
	if cmd.Stdout, err = pipe(stdout); err == nil {
		if stderr == stdout {
			cmd.Stderr = cmd.Stdout
		} else {
			cmd.Stderr, err2 = pipe(stderr)
		}
	}
	if err = errors.Join(err, err2); err != nil {
		closeParentEnds()
		return nil, fmt.Errorf("runner: output pipe: %w", err)
	}
	err = cmd.Start()
	closeParentEnds() // the script holds its own copies
	if err != nil {
		sc.copies.Wait()
		return nil, fmt.Errorf("runner: start %s: %w", path, err)
	}
	go func() {
		sc.err = cmd.Wait()
		close(sc.exited)
	}()
	s.scripts = append(s.scripts, sc)
	return sc, nil
}

// PID is the script's process id, which is also its process group id.
func (sc *Script) PID() int { return sc.cmd.Process.Pid }

// Wait waits for the script to end and returns its exit status. If ctx is
// cancelled first, it stops the script's process group and returns the
// context's error. Either way no process of the group is left running.
func (sc *Script) Wait(ctx context.Context) error {
	select {
	case <-sc.exited:
		// Commands the script left in the background go with it.
		if err := sc.stop(); err != nil {
			return err
		}
		return sc.err
	case <-ctx.Done():
		if err := sc.stop(); err != nil {
			return errors.Join(ctx.Err(), err)
		}
		return ctx.Err()
	}
}

// drainOutput waits, briefly, for the last of the script's output once no
// process of its group is left to write it.
func (sc *Script) drainOutput() {
	done := make(chan struct{})
	go func() {
		sc.copies.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopGrace):
	}
}

// stop ends the script's process group by its id (the script's PID):
// SIGTERM, then SIGKILL after a grace period, until no member is left.
func (sc *Script) stop() error {
	sc.stopOnce.Do(func() {
		sc.stopErr = sc.stopGroup()
		sc.drainOutput()
	})
	return sc.stopErr
}

func (sc *Script) stopGroup() error {
	pgid := sc.PID()
	alive := func() bool {
		select {
		case <-sc.exited:
		default:
			return true
		}
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !alive() {
			return nil
		}
		if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("runner: signal the script's process group %d: %w", pgid, err)
		}
		// Members the script left behind are re-parented when it dies and
		// count until init has reaped them.
		deadline := time.Now().Add(stopGrace)
		for alive() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if alive() {
		return fmt.Errorf("runner: the script's process group %d survived SIGKILL", pgid)
	}
	return nil
}
