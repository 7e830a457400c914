// Command cssc is the container secure supply chain platform in one binary.
package main

import (
	"context"
	"os"

	"github.com/cssc-project/cssc/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
