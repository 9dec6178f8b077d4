// Package nksiptest starts a real nksip-server for the tests of a Go SipApp: the server's
// CLI (dist/server/src/cli.js of a built nksip-server) as a child process on 127.0.0.1,
// stopped by its PID when the test ends.
package nksiptest

import (
	"bufio"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options of [Start].
type Options struct {
	// CLI is the server's cli.js; "" : $NKSIP_CLI, and the test is skipped when neither is
	// set or the file is missing (as it is when node is).
	CLI string
	// GRPC is the gRPC address; "" : 127.0.0.1 on a free port.
	GRPC string
	// Config is merged over the defaults: listen sip:127.0.0.1:0, T1 100 ms, T4 200 ms.
	Config map[string]any
}

// Server is a running nksip-server.
type Server struct {
	// GRPC is the address SipApps connect to (Options.Server of the SDK).
	GRPC string
	// Listeners as `udp:127.0.0.1:5060`.
	Listeners []string
	cmd       *exec.Cmd
	exited    chan struct{}
	stopOnce  sync.Once
}

// Port is the port of the first listener of transport (udp, tcp), 0 when none.
func (s *Server) Port(transport string) int {
	for _, l := range s.Listeners {
		if strings.HasPrefix(l, transport+":") {
			p, _ := strconv.Atoi(l[strings.LastIndex(l, ":")+1:])
			return p
		}
	}
	return 0
}

// Start starts the server and waits for its start-up line; the test's cleanup stops it.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cli := o.CLI
	if cli == "" {
		cli = os.Getenv("NKSIP_CLI")
	}
	if cli == "" {
		t.Skip("no nksip-server: set NKSIP_CLI to a built dist/server/src/cli.js")
	}
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("no nksip-server at %s (build it first)", cli)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	grpc := o.GRPC
	if grpc == "" {
		grpc = "127.0.0.1:0"
	}
	cfg := map[string]any{"listen": []string{"sip:127.0.0.1:0"}, "grpc": grpc, "t1": 100, "t4": 200}
	maps.Copy(cfg, o.Config)
	// the ports come from the info-level start-up line
	cfg["logLevel"] = "info"
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, cli, "--config", file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd, exited: make(chan struct{})}
	t.Cleanup(s.Stop)
	started := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			var line struct {
				Msg       string   `json:"msg"`
				GRPC      string   `json:"grpc"`
				Listeners []string `json:"listeners"`
			}
			if sent || json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "nksip-server started" {
				continue
			}
			s.GRPC, s.Listeners, sent = line.GRPC, line.Listeners, true
			started <- nil
		}
		if !sent {
			started <- errors.New("nksip-server exited before its start-up line")
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nksip-server did not start in 15 s")
	}
	return s
}

// Stop ends the server (SIGINT to its PID, SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}
