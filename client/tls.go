package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of a client's TLS configuration, as
// etcdctl's --cacert, --cert and --key do. Every field is optional, but
// CertFile and KeyFile go together.
type TLSFiles struct {
	// CAFile holds the CAs that sign the members' certificates (the
	// server's --cert-file); empty: the system's CAs.
	CAFile string
	// CertFile and KeyFile are the client certificate and its private
	// key, for clusters with --client-cert-auth: the certificate's common
	// name is the user.
	CertFile, KeyFile string
}

// NewTLSConfig reads files and returns the TLS configuration for
// Config.TLS. The files are read once: to use a rotated client
// certificate, build a new Client.
//
//	conf, err := client.NewTLSConfig(client.TLSFiles{CAFile: "ca.pem", CertFile: "alice.pem", KeyFile: "alice-key.pem"})
//	c, err := client.New(client.Config{Endpoints: []string{"https://10.0.0.1:2379"}, TLS: conf})
func NewTLSConfig(files TLSFiles) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if files.CAFile != "" {
		data, err := os.ReadFile(files.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cairn: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("cairn: CA file %s: no PEM certificate in it", files.CAFile)
		}
		conf.RootCAs = pool
	}
	switch {
	case files.CertFile != "" && files.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cairn: client certificate %s, key %s: %w", files.CertFile, files.KeyFile, err)
		}
		// Presented whatever CAs the member says it accepts (Go would
		// otherwise send none when they do not include its issuer), so
		// that a wrong certificate fails clearly at the member.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	case files.CertFile != "" || files.KeyFile != "":
		return nil, errors.New("cairn: a client certificate needs both CertFile and KeyFile")
	}
	return conf, nil
}
