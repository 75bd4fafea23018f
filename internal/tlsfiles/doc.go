// Package tlsfiles builds the TLS configurations of a member from PEM
// files (a certificate chain, its private key, a bundle of trusted CAs), and
// reloads the files when they change, so that a certificate or a CA can be
// rotated without a restart.
//
// A Source holds the material of the moment. Every handshake looks at the
// files' size, modification time and identity (inode: an atomic rename or
// a Kubernetes symlink swap is a change too), at most once per
// CheckInterval; when they changed, it reads and checks them again, and
// the next handshakes use the new material. Files that do not load (half
// written, a key that does not match the certificate yet) are logged, once
// per state of the files, and the last good material stays in use.
//
// The server side swaps certificate and client CAs together through
// tls.Config.GetConfigForClient; the client side gets a configuration per
// connection (ClientConfig) whose roots are those of the moment, and whose
// client certificate is read at the handshake (GetClientCertificate).
// TLS 1.2 is the minimum version on both sides.
package tlsfiles
