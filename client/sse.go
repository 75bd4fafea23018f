package client

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"time"
)

// sseMessage is one Server-Sent Events message, or one comment line.
type sseMessage struct {
	event   string
	data    []byte
	id      string
	hasID   bool // this message itself carried an id field
	comment string
	isNote  bool // a comment line (": ...")
}

// sseReader reads a text/event-stream. Unlike EventSource it does not
// carry an id over to the messages that have none: Cairn puts the id of a
// revision split across several messages on its last part only, and the
// parts before it must be told apart.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReaderSize(r, 64<<10)} }

// next returns the next message or comment; io.EOF at the end of the
// stream (a message cut by the end is dropped).
func (s *sseReader) next() (sseMessage, error) {
	var m sseMessage
	var data bytes.Buffer
	seen := false
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return sseMessage{}, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if !seen {
				continue
			}
			m.data = data.Bytes()
			return m, nil
		}
		if line[0] == ':' {
			if seen {
				continue // a comment inside a message
			}
			return sseMessage{isNote: true, comment: string(bytes.TrimPrefix(line[1:], []byte(" ")))}, nil
		}
		seen = true
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "event":
			m.event = string(value)
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(value)
		case "id":
			m.id, m.hasID = string(value), true
		}
	}
}

// idleBody wraps a stream's body: when nothing arrives for idle, it calls
// stop (which cancels the request), so that a silent dead connection is
// noticed.
type idleBody struct {
	io.ReadCloser
	timer *time.Timer
	idle  time.Duration
}

func newIdleBody(body io.ReadCloser, idle time.Duration, stop context.CancelFunc) *idleBody {
	b := &idleBody{ReadCloser: body, idle: idle}
	if idle > 0 {
		b.timer = time.AfterFunc(idle, stop)
	}
	return b
}

// Read reads from the body and restarts the idle timer.
func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && b.timer != nil {
		b.timer.Reset(b.idle)
	}
	return n, err
}

// Close stops the idle timer and closes the body.
func (b *idleBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	return b.ReadCloser.Close()
}

// sleepCtx waits for d or until ctx ends; it reports whether ctx is still
// alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff returns the pause before the n-th consecutive retry (n >= 1) of
// a stream or a loop: 50ms, 100ms, 200ms, ... capped at max.
func backoff(n int, max time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > 16 {
		n = 16
	}
	return min(50*time.Millisecond<<(n-1), max)
}
