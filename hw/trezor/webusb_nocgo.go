//go:build !cgo

package trezor

import "github.com/countersign/countersign/hw/transport"

// EnumerateWebUSB reports that this binary has no USB support.
func EnumerateWebUSB() ([]transport.HIDInfo, error) { return nil, transport.ErrNoUSB }

// OpenWebUSB reports that this binary has no USB support.
func OpenWebUSB(path string) (transport.Transport, error) { return nil, transport.ErrNoUSB }
