package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
	"github.com/cairnkv/cairn/internal/testutil/testcerts"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

func TestGlobal_Environment(t *testing.T) {
	c := sharedCluster(t)
	c.mustCtl(t, "put", "env/k", "v")
	env := func(kv ...string) map[string]string {
		m := map[string]string{"CAIRNCTL_ENDPOINTS": c.endpoints()}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	t.Run("WriteOut", func(t *testing.T) {
		r := invocation{args: []string{"get", "env/k"}, env: env("CAIRNCTL_WRITE_OUT", "json")}.run()
		if r.code != 0 || !strings.HasPrefix(r.out, `{"header":`) {
			t.Fatalf("CAIRNCTL_WRITE_OUT=json: %s", r)
		}
		// A flag beats the environment.
		r = invocation{args: []string{"-w", "simple", "get", "env/k"}, env: env("CAIRNCTL_WRITE_OUT", "json")}.run()
		if r.code != 0 || r.out != "env/k\nv\n" {
			t.Fatalf("-w simple with CAIRNCTL_WRITE_OUT=json: %s", r)
		}
	})
	t.Run("Endpoints", func(t *testing.T) {
		r := invocation{args: []string{"get", "env/k"}, env: map[string]string{"CAIRNCTL_ENDPOINTS": c.members[2].URL}}.run()
		if r.code != 0 || r.out != "env/k\nv\n" {
			t.Fatalf("CAIRNCTL_ENDPOINTS: %s", r)
		}
	})
	t.Run("BadValue", func(t *testing.T) {
		r := invocation{args: []string{"get", "env/k"}, env: env("CAIRNCTL_DIAL_TIMEOUT", "soon")}.run()
		if r.code != exitError || !strings.Contains(r.err, `CAIRNCTL_DIAL_TIMEOUT="soon"`) {
			t.Fatalf("CAIRNCTL_DIAL_TIMEOUT=soon: %s", r)
		}
		r = invocation{args: []string{"-w", "yaml", "get", "env/k"}, env: env()}.run()
		if r.code != exitError || !strings.Contains(r.err, `--write-out "yaml"`) {
			t.Fatalf("-w yaml: %s", r)
		}
	})
	t.Run("Debug", func(t *testing.T) {
		r := invocation{args: []string{"--debug", "get", "env/k"}, env: env("CAIRNCTL_COMMAND_TIMEOUT", "7s")}.run()
		if r.code != 0 || r.out != "env/k\nv\n" ||
			!strings.Contains(r.err, "cairnctl: --command-timeout=7s (CAIRNCTL_COMMAND_TIMEOUT)\n") ||
			!strings.Contains(r.err, "cairnctl: --write-out=simple (default)\n") ||
			!strings.Contains(r.err, "cairnctl: GET "+c.members[0].URL+"/v1/kv/env/k?encoding=base64: 200 OK (") {
			t.Fatalf("--debug: %s", r)
		}
	})
}

// TestGlobal_ConnectionError: an error of a member that cannot be reached
// names it, with the timeout of --command-timeout or after the client's
// retries.
func TestGlobal_ConnectionError(t *testing.T) {
	dead := fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())
	for _, args := range [][]string{
		{"--endpoints", dead, "--command-timeout", "300ms", "get", "k"},
		{"--endpoints", dead, "--command-timeout", "300ms", "put", "k", "v"},
		{"--endpoints", dead, "member", "list"},
	} {
		r := invocation{args: args}.run()
		if r.code != exitError || !strings.HasPrefix(r.err, "Error: ") || !strings.Contains(r.err, dead) {
			t.Errorf("cairnctl %q: %s; want an error that names %s", args, r, dead)
		}
	}
}

func TestGlobal_TLS(t *testing.T) {
	ca := testcerts.NewCA(t, "ca")
	peer := app.Peer{Name: "tls", URL: fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())}
	cfg := memberConfig("tls", t.TempDir(), []app.Peer{peer})
	cfg.ListenClientURLs = []string{strings.Replace(cfg.ListenClientURLs[0], "http://", "https://", 1)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.CertFile, cfg.KeyFile = ca.Issue(t, "tls", true)
	cfg.TrustedCAFile, cfg.ClientCertAuth = ca.CertFile, true
	m, err := startMember(cfg, zerolog.New(testlog.Writer(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	cert, key := ca.Issue(t, "root", false)
	flags := []string{"--endpoints", m.URL, "--cacert", ca.CertFile, "--cert", cert, "--key", key}
	waitFor(t, 20*time.Second, "a put over TLS", func() bool {
		return invocation{args: append(flags, "put", "tls/k", "v")}.run().code == 0
	})
	if r := (invocation{args: append(flags, "get", "tls/k")}).run(); r.code != 0 || r.out != "tls/k\nv\n" {
		t.Fatalf("get over TLS: %s", r)
	}
	// The same from the environment, as CAIRNCTL_CACERT, CAIRNCTL_CERT and
	// CAIRNCTL_KEY.
	env := map[string]string{"CAIRNCTL_ENDPOINTS": m.URL, "CAIRNCTL_CACERT": ca.CertFile, "CAIRNCTL_CERT": cert, "CAIRNCTL_KEY": key}
	if r := (invocation{args: []string{"get", "tls/k"}, env: env}).run(); r.code != 0 || r.out != "tls/k\nv\n" {
		t.Fatalf("get over TLS, files from the environment: %s", r)
	}
	// Without a client certificate the member refuses.
	r := invocation{args: []string{"--endpoints", m.URL, "--cacert", ca.CertFile, "--command-timeout", "1s", "get", "tls/k"}}.run()
	if r.code != exitError {
		t.Fatalf("get without a client certificate: %s", r)
	}
	r = invocation{args: []string{"--endpoints", m.URL, "--cert", cert, "get", "tls/k"}}.run()
	if r.code != exitError || !strings.Contains(r.err, "needs both") {
		t.Fatalf("--cert without --key: %s", r)
	}
}

func TestGlobal_Help(t *testing.T) {
	t.Parallel()
	r := invocation{args: []string{"--help"}}.run()
	if r.code != 0 || r.err != "" {
		t.Fatalf("--help: %s", r)
	}
	compareGolden(t, "help", r.out)
	if r2 := (invocation{}).run(); r2.code != 0 || r2.out != r.out {
		t.Fatalf("cairnctl alone prints the help: %s", r2)
	}
	if r := (invocation{args: []string{"gett", "k"}}).run(); r.code != exitError || !strings.Contains(r.err, `unknown command "gett" for "cairnctl"; did you mean get?`) {
		t.Fatalf("a misspelt command: %s", r)
	}
	// Every verb has a help with examples.
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.HasSubCommands() {
			for _, sub := range cmd.Commands() {
				walk(sub)
			}
			return
		}
		if cmd.Name() == "help" || cmd.Parent().Name() == "completion" {
			return
		}
		if cmd.Example == "" || cmd.Short == "" {
			t.Errorf("%s: no examples or no short help", cmd.CommandPath())
		}
		r := invocation{args: append(strings.Fields(cmd.CommandPath())[1:], "--help")}.run()
		if r.code != 0 || !strings.Contains(r.out, "Examples:\n") {
			t.Errorf("%s --help: %s", cmd.CommandPath(), r)
		}
	}
	walk((&cli{}).rootCommand())
}

func TestGlobal_Completion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := invocation{args: []string{"completion", shell}}.run()
		if r.code != 0 || !strings.Contains(r.out, "cairnctl") || len(r.out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes", shell, r.code, len(r.out))
		}
	}
	// Cobra's completion of verbs, as the shells ask for it.
	r := invocation{args: []string{"__complete", "mem"}}.run()
	if r.code != 0 || !strings.Contains(r.out, "member\t") {
		t.Fatalf("completion of mem: %s", r)
	}
}
