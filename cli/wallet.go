package cli

import (
	"github.com/spf13/cobra"
)

func newCmdWallet(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "wallet",
		Short: "Create, import, export and inspect multisig wallets",
	})
	cmd.AddCommand(
		newCmdWalletCreate(f, nil),
		newCmdWalletImport(f, nil),
		newCmdWalletExport(f, nil),
		newCmdWalletList(f, nil),
		newCmdWalletShow(f, nil),
		newCmdWalletDelete(f, nil),
		newCmdWalletSync(f, nil),
		newCmdWalletBalance(f, nil),
		newCmdWalletUTXOs(f, nil),
		newCmdWalletHistory(f, nil),
		newCmdWalletRotate(f, nil),
		newCmdWalletStatus(f, nil),
		newCmdWalletRefresh(f, nil),
		newCmdWalletRelay(f),
	)
	return cmd
}
