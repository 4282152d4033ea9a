// Command countersign coordinates m-of-n Bitcoin multisig wallets.
package main

import (
	"os"

	"github.com/countersign/countersign/cli"
)

func main() { os.Exit(cli.Execute()) }
