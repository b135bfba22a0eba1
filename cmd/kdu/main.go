// Command kdu deploys and manages KDUs (Helm charts) on many Kubernetes clusters. See README.md.
package main

import (
	"os"

	"github.com/kdu-io/kdu/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
