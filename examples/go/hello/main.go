// hello: the ten-line SipApp of docs/go-sdk.md. It names no listen URI, so while it is
// connected it serves the server's own listeners.
//
//	cd examples/go && go run ./hello      (NKSIP_SERVER: the server's gRPC address)
package main

import (
	"context"
	"log"
	"os"
	"os/signal"

	nksip "github.com/nksip/nksip-go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	app, err := nksip.Start(ctx, nksip.Options{App: "hello", Server: os.Getenv("NKSIP_SERVER")}, nksip.Handlers{
		Options: func(ctx context.Context, req *nksip.Request) (nksip.MethodAnswer, error) {
			return nksip.OK().WithHeader("x-app", "hello"), nil
		},
		Invite: func(ctx context.Context, req *nksip.Request) (nksip.MethodAnswer, error) {
			if req.HasHeader("x-busy") {
				return nksip.Busy(), nil
			}
			return nksip.Decline(), nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
	_ = app.Stop(context.Background())
}
