package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/tlsfiles"
)

// DefaultHealthcheckURL is what "cairn healthcheck" asks without a URL:
// the readiness of the member in the same container or pod.
const DefaultHealthcheckURL = "http://127.0.0.1:2379/readyz"

const healthcheckUsage = `Usage: cairn healthcheck [flags] [URL]

Asks URL (default ` + DefaultHealthcheckURL + `; a URL without a path
means its /readyz) and exits 0 when it
answers 200, 1 otherwise, printing the answer: a container healthcheck for
an image that has no curl. /readyz answers 200 when the member has a leader
and has applied what it knows is committed; /healthz when the process serves.

  HEALTHCHECK CMD ["cairn", "healthcheck"]
  cairn healthcheck --cacert ca.pem https://127.0.0.1:2379/readyz

Flags:
`

// HealthcheckCommand runs "cairn healthcheck [flags] [URL]"; args are those
// after "healthcheck". It returns nil when URL answers 200, and an error
// that says what it got otherwise. The answer goes to stdout, usage and
// flag errors to stderr.
func HealthcheckCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cairn healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	var files tlsfiles.Files
	fs.StringVar(&files.CAFile, "cacert", "", "CA `file` (PEM) to verify an https:// member by (default: the system's CAs)")
	fs.StringVar(&files.CertFile, "cert", "", "client certificate `file` (PEM), for a member with --client-cert-auth")
	fs.StringVar(&files.KeyFile, "key", "", "private key `file` (PEM) of --cert")
	fs.Usage = func() {
		fmt.Fprint(stderr, healthcheckUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	target := DefaultHealthcheckURL
	switch fs.NArg() {
	case 0:
	case 1:
		target = fs.Arg(0)
	default:
		return fmt.Errorf("healthcheck: one URL at most, got %q", fs.Args())
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("healthcheck: %q is not an http:// or https:// URL", target)
	}
	if u.Path == "" || u.Path == "/" {
		// A member's client URL alone, as the other commands take it: ask
		// its readiness.
		u.Path = "/readyz"
		target = u.String()
	}
	tr := &http.Transport{DialContext: (&net.Dialer{}).DialContext, DisableKeepAlives: true}
	if files != (tlsfiles.Files{}) {
		src, err := tlsfiles.Load(files, tlsfiles.Options{})
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		tr.TLSClientConfig = src.ClientConfig(u.Hostname())
	} else {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s %s", target, resp.Status, answer)
	}
	fmt.Fprintf(stdout, "%s: %s %s\n", target, resp.Status, answer)
	return nil
}
