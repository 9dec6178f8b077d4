// Package nksip is the Go SDK of nksip-server: a SipApp connects to the server over one
// bidirectional gRPC stream, implements the callbacks it needs as fields of [Handlers]
// (each with a [context.Context] bounded by the server's deadline), answers with typed
// decisions and named replies, and sends requests with [App.Request] and friends, which
// return the final response (and let you watch provisionals with [Call]).
//
// The contract is proto/nksip/v1 of the nksip-server repository; its generated Go code is
// the package [github.com/nksip/nksip-go/gen/nksip/v1], committed so that no protoc is
// needed to build.
//
// An [App] is safe for concurrent use: callbacks run each in its own goroutine, requests may
// be sent from any goroutine. A broken stream is reopened with backoff (see [Backoff]);
// [App.Stop] leaves cleanly.
package nksip
