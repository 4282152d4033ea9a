package pgtest

import "syscall"

// procAttr runs a child as cred (nil: as this process) and kills it if
// the test process dies first, so no server outlives its tests.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
