package tlsfiles

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of a Source. CertFile and KeyFile go together;
// CAFile may be given alone (a client that only verifies servers).
type Files struct {
	CertFile string // the certificate chain, leaf first
	KeyFile  string // the leaf's private key, unencrypted (PKCS#8, PKCS#1 or SEC 1)
	CAFile   string // the CAs trusted to sign the other side's certificate
}

// Kind says which of the Files an error is about.
type Kind int

// The kinds of file.
const (
	KindCert Kind = iota + 1
	KindKey
	KindCA
)

func (k Kind) String() string {
	switch k {
	case KindCert:
		return "certificate file"
	case KindKey:
		return "key file"
	case KindCA:
		return "CA file"
	}
	return "file"
}

// FileError is a file that cannot be used: it cannot be read, holds no
// usable PEM data, or (KindKey) holds a key that does not match the
// certificate.
type FileError struct {
	Kind Kind
	Path string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("tlsfiles: %s %s: %v", e.Kind, e.Path, e.Err) }

func (e *FileError) Unwrap() error { return e.Err }

// The problems a FileError wraps besides the file system's.
var (
	// ErrNoPEM: the file holds no PEM block of the expected type.
	ErrNoPEM = errors.New("no PEM data of the expected type")
	// ErrEncryptedKey: the key is encrypted; give it unencrypted.
	ErrEncryptedKey = errors.New("the private key is encrypted, which is not supported: decrypt it (openssl pkey -in KEY -out KEY.plain)")
	// ErrKeyMismatch: the private key is not the certificate's.
	ErrKeyMismatch = errors.New("the private key does not match the certificate's public key")
	// ErrNoFiles: a Source was asked for with no file at all, or with a
	// certificate and no key, or a key and no certificate.
	ErrNoFiles = errors.New("tlsfiles: a certificate needs its key file and a key its certificate file, and at least one file must be given")
)

// material is what the files held when they were loaded.
type material struct {
	cert  *tls.Certificate // nil without CertFile
	pool  *x509.CertPool   // nil without CAFile
	stamp stamp            // the files as they were before they were read
}

// load reads and checks the files. The stamp is taken before the files are
// read: a change during the read is seen at the next check.
func load(f Files) (*material, error) {
	st, err := statFiles(f)
	if err != nil {
		return nil, err
	}
	m := &material{stamp: st}
	if f.CertFile != "" {
		if m.cert, err = loadKeyPair(f.CertFile, f.KeyFile); err != nil {
			return nil, err
		}
	}
	if f.CAFile != "" {
		if m.pool, err = loadPool(f.CAFile); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FileError{Kind: KindCert, Path: certFile, Err: err}
	}
	chain, err := parseCertificates(certPEM)
	if err != nil {
		return nil, &FileError{Kind: KindCert, Path: certFile, Err: err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FileError{Kind: KindKey, Path: keyFile, Err: err}
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, &FileError{Kind: KindKey, Path: keyFile, Err: err}
	}
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, &FileError{Kind: KindKey, Path: keyFile, Err: fmt.Errorf("%w in %s", ErrKeyMismatch, certFile)}
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c, nil
}

func loadPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &FileError{Kind: KindCA, Path: caFile, Err: err}
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, &FileError{Kind: KindCA, Path: caFile, Err: err}
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCertificates returns every CERTIFICATE block of data, parsed; other
// blocks are skipped.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (want a CERTIFICATE block)", ErrNoPEM)
	}
	return out, nil
}

// parsePrivateKey returns the first private key of data, in any of the
// encodings openssl writes.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%w (want a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)", ErrNoPEM)
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, ErrEncryptedKey
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue // EC PARAMETERS and the like
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("%s: unsupported key type %T", b.Type, key)
	}
}

// stamp is what the files looked like: their os.FileInfo, nil for a file
// not given.
type stamp [3]os.FileInfo

func statFiles(f Files) (stamp, error) {
	var st stamp
	for i, p := range []struct {
		kind Kind
		path string
	}{{KindCert, f.CertFile}, {KindKey, f.KeyFile}, {KindCA, f.CAFile}} {
		if p.path == "" {
			continue
		}
		fi, err := statFile(p.path)
		if err != nil {
			return stamp{}, &FileError{Kind: p.kind, Path: p.path, Err: err}
		}
		st[i] = fi
	}
	return st, nil
}

// statFile is os.Stat through an open, so that a missing or unreadable
// file says "open PATH: ...", as the read that follows would.
func statFile(path string) (os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// same reports whether the files are unchanged between a and b: the same
// file (device and inode), size and modification time.
func (a stamp) same(b stamp) bool {
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil || y == nil:
			return false
		case !os.SameFile(x, y) || x.Size() != y.Size() || !x.ModTime().Equal(y.ModTime()):
			return false
		}
	}
	return true
}
