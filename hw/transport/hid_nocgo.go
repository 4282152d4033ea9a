//go:build !cgo

package transport

// EnumerateHID reports that this binary has no USB support.
func EnumerateHID(vendorID, productID uint16) ([]HIDInfo, error) { return nil, ErrNoUSB }

// OpenHID reports that this binary has no USB support.
func OpenHID(path string) (Transport, error) { return nil, ErrNoUSB }
