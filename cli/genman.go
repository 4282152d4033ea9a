package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newCmdGenMan writes man pages for every command (`make man`). Hidden: it
// is a build step, not something users run.
func newCmdGenMan(f *Factory) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "gen-man --dir DIR",
		Short:  "Write man pages for every command into DIR",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			header := &doc.GenManHeader{Title: "COUNTERSIGN", Section: "1", Source: "countersign " + Version, Manual: "countersign manual"}
			if err := doc.GenManTree(c.Root(), header, dir); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.ErrOut, "Wrote man pages to %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "man", "output directory")
	return cmd
}
