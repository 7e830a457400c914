// Command cssc is the container secure supply chain platform in one binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cssc-project/cssc/internal/cli"
	"github.com/cssc-project/cssc/internal/gctune/startup"
)

func main() {
	startup.Done()
	// The first SIGINT or SIGTERM cancels the command (it stops reading,
	// removes its temporary files, a server shuts down gracefully); a
	// second one kills the process as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
