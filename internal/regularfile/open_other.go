//go:build !unix

package regularfile

import "os"

func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
