package transport

// HIDInfo describes one USB HID interface found by EnumerateHID.
type HIDInfo struct {
	Path         string // platform path, what OpenHID takes
	VendorID     uint16
	ProductID    uint16
	Serial       string
	Manufacturer string
	Product      string
	UsagePage    uint16 // Windows and macOS only
	Usage        uint16 // Windows and macOS only
	Interface    int    // USB interface number (-1 when unknown)
}
