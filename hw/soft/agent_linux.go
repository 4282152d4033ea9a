package soft

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/countersign/countersign/psbt"
)

// checkPeer refuses a client running as another user: the socket's mode
// and the key directory's already keep them out; the kernel's word on the
// peer is the second lock.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("%w: the agent cannot tell who is asking: %v", psbt.ErrRefused, credErr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("%w: the agent serves user %d only, not %d", psbt.ErrRefused, os.Getuid(), cred.Uid)
	}
	return nil
}
