package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/testutil/testcerts"
)

// tlsFlags are the eight TLS flags with values, in flag form.
var tlsFlags = []string{
	"--cert-file=/etc/cairn/server.pem", "--key-file=/etc/cairn/server-key.pem",
	"--trusted-ca-file=/etc/cairn/client-ca.pem", "--client-cert-auth=true",
	"--peer-cert-file=/etc/cairn/peer.pem", "--peer-key-file=/etc/cairn/peer-key.pem",
	"--peer-trusted-ca-file=/etc/cairn/peer-ca.pem", "--peer-client-cert-auth=true",
}

func TestLoadConfig_TLS(t *testing.T) {
	t.Parallel()
	want := Config{
		CertFile: "/etc/cairn/server.pem", KeyFile: "/etc/cairn/server-key.pem",
		TrustedCAFile: "/etc/cairn/client-ca.pem", ClientCertAuth: true,
		PeerCertFile: "/etc/cairn/peer.pem", PeerKeyFile: "/etc/cairn/peer-key.pem",
		PeerTrustedCAFile: "/etc/cairn/peer-ca.pem", PeerClientCertAuth: true,
	}
	tlsOnly := func(c Config) Config {
		return Config{
			CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.TrustedCAFile, ClientCertAuth: c.ClientCertAuth,
			PeerCertFile: c.PeerCertFile, PeerKeyFile: c.PeerKeyFile, PeerTrustedCAFile: c.PeerTrustedCAFile, PeerClientCertAuth: c.PeerClientCertAuth,
		}
	}
	var environ []string
	var yaml strings.Builder
	for _, f := range tlsFlags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		environ = append(environ, envName(k)+"="+v)
		if v == "true" {
			yaml.WriteString(k + ": true\n") // a YAML boolean, not a string
		} else {
			yaml.WriteString(k + ": " + v + "\n")
		}
	}
	bare := make([]string, len(tlsFlags))
	for i, f := range tlsFlags {
		bare[i] = strings.TrimSuffix(f, "=true") // --client-cert-auth alone means true
	}
	tests := []struct {
		name    string
		args    []string
		environ []string
	}{
		{name: "Flags", args: tlsFlags},
		{name: "BareBoolFlags", args: bare},
		{name: "Env", environ: environ},
		{name: "File", args: []string{"--config-file", writeYAML(t, yaml.String())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, tt.args, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if got := tlsOnly(got); !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}

	t.Run("FlagBeatsEnv", func(t *testing.T) {
		t.Parallel()
		c, err := load(t, []string{"--client-cert-auth=false", "--peer-cert-file", "/flag.pem"},
			[]string{"CAIRN_CLIENT_CERT_AUTH=true", "CAIRN_PEER_CERT_FILE=/env.pem", "CAIRN_PEER_CLIENT_CERT_AUTH=1"})
		if err != nil {
			t.Fatal(err)
		}
		if c.ClientCertAuth || c.PeerCertFile != "/flag.pem" || !c.PeerClientCertAuth {
			t.Fatalf("got client-cert-auth %v, peer-cert-file %q, peer-client-cert-auth %v", c.ClientCertAuth, c.PeerCertFile, c.PeerClientCertAuth)
		}
	})

	t.Run("BadBool", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			args, environ []string
			want          string
		}{
			{args: []string{"--client-cert-auth=maybe"}, want: `--client-cert-auth: "maybe" is neither true nor false`},
			{environ: []string{"CAIRN_PEER_CLIENT_CERT_AUTH=yes please"}, want: `CAIRN_PEER_CLIENT_CERT_AUTH: "yes please" is neither true nor false`},
			{args: []string{"--config-file", writeYAML(t, "client-cert-auth: [true]\n")}, want: `"client-cert-auth": expected a single value`},
		} {
			if _, err := load(t, tt.args, tt.environ); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		}
	})

	t.Run("Usage", func(t *testing.T) {
		t.Parallel()
		var out strings.Builder
		_, _ = LoadConfigTo([]string{"-h"}, nil, &out)
		for _, f := range tlsFlags {
			name, _, _ := strings.Cut(strings.TrimPrefix(f, "-"), "=")
			if !strings.Contains(out.String(), name) {
				t.Errorf("usage lacks %s", name)
			}
		}
	})
}

// tlsConfig returns a valid single-member config with https:// client and
// peer URLs and the given files.
func tlsConfig(cert, key, ca, peerCert, peerKey, peerCA string) Config {
	c := Defaults()
	c.ListenClientURLs = []string{"https://127.0.0.1:2379"}
	c.ListenPeerURL = "https://127.0.0.1:2380"
	c = c.WithDerivedDefaults()
	c.CertFile, c.KeyFile, c.TrustedCAFile, c.ClientCertAuth = cert, key, ca, ca != ""
	c.PeerCertFile, c.PeerKeyFile, c.PeerTrustedCAFile, c.PeerClientCertAuth = peerCert, peerKey, peerCA, peerCA != ""
	return c
}

func TestConfig_ValidateTLS(t *testing.T) {
	t.Parallel()
	ok := func() Config { return tlsConfig("/c.pem", "/k.pem", "/ca.pem", "/pc.pem", "/pk.pem", "/pca.pem") }
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // "" means valid
	}{
		{name: "OK", modify: func(c *Config) {}},
		{name: "OKNoClientAuth", modify: func(c *Config) { c.ClientCertAuth, c.TrustedCAFile = false, "" }},
		{name: "OKCAWithoutAuth", modify: func(c *Config) { c.ClientCertAuth = false }},
		{name: "OKMixedClientURLs", modify: func(c *Config) {
			c.ListenClientURLs = append(c.ListenClientURLs, "http://127.0.0.1:12379")
		}},
		{name: "OKPeerTLSOnly", modify: func(c *Config) {
			c.ListenClientURLs = []string{"http://127.0.0.1:2379"}
			c.CertFile, c.KeyFile, c.TrustedCAFile, c.ClientCertAuth = "", "", "", false
		}},
		{name: "OKPeerWithoutCA", modify: func(c *Config) { c.PeerTrustedCAFile, c.PeerClientCertAuth = "", false }},
		{name: "OKJoinHTTPSWithCAOnly", modify: func(c *Config) {
			c.ListenClientURLs = []string{"http://127.0.0.1:2379"}
			c.CertFile, c.KeyFile, c.ClientCertAuth = "", "", false
			c.Join = "https://10.0.0.1:2379"
		}},
		{name: "NoCertFile", modify: func(c *Config) { c.CertFile = "" }, want: "--cert-file: required: --listen-client-urls has an https:// URL"},
		{name: "NoKeyFile", modify: func(c *Config) { c.KeyFile = "" }, want: "--key-file: required: --listen-client-urls has an https:// URL"},
		{name: "CertWithoutHTTPS", modify: func(c *Config) { c.ListenClientURLs = []string{"http://127.0.0.1:2379"}; c.ClientCertAuth = false },
			want: "--cert-file: is set, and no --listen-client-urls is https://"},
		{name: "ClientCertAuthNoCA", modify: func(c *Config) { c.TrustedCAFile = "" },
			want: "--client-cert-auth: needs --trusted-ca-file"},
		{name: "ClientCertAuthNoHTTPS", modify: func(c *Config) {
			c.ListenClientURLs = []string{"http://127.0.0.1:2379"}
			c.CertFile, c.KeyFile = "", ""
		}, want: "--client-cert-auth: needs an https:// URL in --listen-client-urls"},
		{name: "NoPeerCertFile", modify: func(c *Config) { c.PeerCertFile = "" }, want: "--peer-cert-file: required: --listen-peer-urls is https://"},
		{name: "NoPeerKeyFile", modify: func(c *Config) { c.PeerKeyFile = "" }, want: "--peer-key-file: required: --listen-peer-urls is https://"},
		{name: "PeerClientCertAuthNoCA", modify: func(c *Config) { c.PeerTrustedCAFile = "" },
			want: "--peer-client-cert-auth: needs --peer-trusted-ca-file"},
		{name: "PeerFilesWithHTTP", modify: func(c *Config) {
			c.ListenPeerURL, c.InitialAdvertisePeerURL = "http://127.0.0.1:2380", "http://127.0.0.1:2380"
			c.InitialCluster = []Peer{{"default", "http://127.0.0.1:2380"}}
		}, want: "--peer-cert-file: is set, and --listen-peer-urls is http://"},
		{name: "PeerClientCertAuthWithHTTP", modify: func(c *Config) {
			c.ListenPeerURL, c.InitialAdvertisePeerURL = "http://127.0.0.1:2380", "http://127.0.0.1:2380"
			c.InitialCluster = []Peer{{"default", "http://127.0.0.1:2380"}}
			c.PeerCertFile, c.PeerKeyFile, c.PeerTrustedCAFile = "", "", ""
		}, want: "--peer-client-cert-auth: needs --peer-trusted-ca-file"},
		{name: "MixedAdvertisePeer", modify: func(c *Config) {
			c.InitialAdvertisePeerURL = "http://127.0.0.1:2380"
			c.InitialCluster = []Peer{{"default", "http://127.0.0.1:2380"}}
		}, want: `--initial-advertise-peer-urls: "http://127.0.0.1:2380" is http:// and --listen-peer-urls is https://`},
		{name: "MixedInitialCluster", modify: func(c *Config) {
			c.InitialCluster = append(c.InitialCluster, Peer{"n2", "http://127.0.0.1:22380"})
		}, want: `--initial-cluster: "http://127.0.0.1:22380" is http:// and --listen-peer-urls is https://`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok()
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestNew_TLSFileErrors: a TLS file that cannot be used stops the start
// with an error that names its flag and its path.
func TestNew_TLSFileErrors(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	cert, key := ca.Issue(t, "server", true)
	_, otherKey := ca.Issue(t, "other", true)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64 !!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "MissingPeerCert", cfg: tlsConfig(cert, key, ca.CertFile, missing, key, ca.CertFile),
			want: "--peer-cert-file " + missing + ": open " + missing + ": no such file or directory"},
		{name: "MissingKey", cfg: tlsConfig(cert, missing, ca.CertFile, cert, key, ca.CertFile),
			want: "--key-file " + missing + ": open " + missing + ": no such file or directory"},
		{name: "UnreadableCA", cfg: tlsConfig(cert, key, dir, cert, key, ca.CertFile),
			want: "--trusted-ca-file " + dir + ": read " + dir + ": is a directory"},
		{name: "InvalidPEMCert", cfg: tlsConfig(garbage, key, ca.CertFile, cert, key, ca.CertFile),
			want: "--cert-file " + garbage + ": no PEM data"},
		{name: "InvalidPEMPeerCA", cfg: tlsConfig(cert, key, ca.CertFile, cert, key, garbage),
			want: "--peer-trusted-ca-file " + garbage + ": no PEM data"},
		{name: "PeerKeyMismatch", cfg: tlsConfig(cert, key, ca.CertFile, cert, otherKey, ca.CertFile),
			want: "--peer-key-file " + otherKey + ": the private key does not match the certificate's public key in " + cert},
		{name: "PeerKeyIsACert", cfg: tlsConfig(cert, key, ca.CertFile, cert, cert, ca.CertFile),
			want: "--peer-key-file " + cert + ": no PEM data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.DataDir = t.TempDir()
			a, err := New(tt.cfg, zerolog.New(zerolog.NewTestWriter(t)))
			if err == nil {
				a.Close()
				t.Fatal("started with a bad TLS file")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
