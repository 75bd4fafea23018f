package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
)

// once sends r to the endpoint ep, once. sent reports whether the request
// may have reached the member (its headers were written): when it is false
// with an error, the member certainly did not carry the request out.
func (c *Client) once(ctx context.Context, ep *url.URL, r *request, stream bool) (resp *response, sent bool, err error) {
	return c.send(ctx, ep, r, stream, true)
}

// send is once; renew says whether a token the member refuses (401) may be
// renewed, and the request sent again, once.
func (c *Client) send(ctx context.Context, ep *url.URL, r *request, stream, renew bool) (resp *response, sent bool, err error) {
	u, err := url.Parse(ep.String() + r.path)
	if err != nil {
		return nil, false, fmt.Errorf("cairn: bad request path %q: %w", r.path, err)
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, false, fmt.Errorf("cairn: %s %s: %w", r.method, r.path, err)
	}
	// NewRequest re-parses the URL; keep the exact escaping of the key.
	req.URL = u
	if r.body != nil {
		b := r.body
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.ContentLength = int64(len(b))
		if r.ctype != "" {
			req.Header.Set("Content-Type", r.ctype)
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	token := c.setCredentials(ctx, ep, req)
	hr, err := c.hc.Do(req)
	if err != nil {
		return nil, wrote.Load(), fmt.Errorf("cairn: %s %s on %s: %w", r.method, r.path, ep, err)
	}
	if hr.StatusCode == http.StatusUnauthorized && token != "" && renew {
		// The token expired, or the password changed: a 401 carried
		// nothing out, so get a new token and send the request again.
		_, _ = io.Copy(io.Discard, io.LimitReader(hr.Body, 64<<10))
		hr.Body.Close()
		c.tokens.forget(token)
		return c.send(ctx, ep, r, stream, false)
	}
	resp = &response{endpoint: ep.String(), status: hr.StatusCode, header: hr.Header}
	if stream && hr.StatusCode/100 == 2 {
		resp.stream = hr
		return resp, true, nil
	}
	defer hr.Body.Close()
	resp.body, err = io.ReadAll(hr.Body)
	if err != nil && hr.StatusCode/100 == 2 {
		// The member answered, but the answer was cut: for a write, it
		// was carried out, yet its result is lost.
		return nil, true, fmt.Errorf("cairn: %s %s on %s: reading the answer (status %d): %w",
			r.method, r.path, ep, hr.StatusCode, err)
	}
	return resp, true, nil
}

// keyPath returns prefix followed by key, percent-encoded so that any
// byte survives: unreserved characters and '/' stay as they are, every
// other byte becomes %XX, and so do the dots of a "." or ".." segment,
// which proxies would otherwise resolve.
func keyPath(prefix, key string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(key)*3)
	b.WriteString(prefix)
	const hex = "0123456789ABCDEF"
	for i, seg := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		dots := seg == "." || seg == ".."
		for j := 0; j < len(seg); j++ {
			ch := seg[j]
			if !dots && (ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
				ch == '-' || ch == '_' || ch == '.' || ch == '~') {
				b.WriteByte(ch)
				continue
			}
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}
