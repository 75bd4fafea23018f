//go:build failpoints

package failpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Server is the control API of the failpoints.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Serve listens on addr, which must be a loopback address (127.0.0.1:PORT),
// and serves the control API (see the package doc) until Close. report,
// when not nil, is told of every change ("disk-stall armed: 2s").
func Serve(addr string, report func(msg string)) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("failpoint: %s=%q: %w", EnvAddr, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("failpoint: %s=%q: the control API listens on a loopback address only (127.0.0.1:PORT)", EnvAddr, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failpoint: %w", err)
	}
	if report == nil {
		report = func(string) {}
	}
	s := &Server{ln: ln, srv: &http.Server{Handler: handler(report), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the API. The failpoints keep their state.
func (s *Server) Close() error {
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func handler(report func(string)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{stall.state(), clock.state(), corrupt.state()})
	})
	mux.HandleFunc("GET /disk-stall", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, stall.state()) })
	mux.HandleFunc("PUT /disk-stall", func(w http.ResponseWriter, r *http.Request) {
		term, ok := readTerm(w, r)
		if !ok {
			return
		}
		if err := stall.arm(term); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		report("disk-stall armed: " + term)
		writeJSON(w, stall.state())
	})
	mux.HandleFunc("DELETE /disk-stall", func(w http.ResponseWriter, r *http.Request) {
		stall.disarm()
		report("disk-stall disarmed")
		writeJSON(w, stall.state())
	})
	mux.HandleFunc("GET /clock-jump", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, clock.state()) })
	mux.HandleFunc("PUT /clock-jump", func(w http.ResponseWriter, r *http.Request) {
		term, ok := readTerm(w, r)
		if !ok {
			return
		}
		off, err := clock.jump(term)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		report(fmt.Sprintf("clock-jump: jumped %s, now %v from the system clock", term, off))
		writeJSON(w, clock.state())
	})
	mux.HandleFunc("DELETE /clock-jump", func(w http.ResponseWriter, r *http.Request) {
		clock.reset()
		report("clock-jump: back to the system clock")
		writeJSON(w, clock.state())
	})
	mux.HandleFunc("GET /corrupt-store", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, corrupt.state()) })
	mux.HandleFunc("PUT /corrupt-store", func(w http.ResponseWriter, r *http.Request) {
		term, ok := readTerm(w, r)
		if !ok {
			return
		}
		if err := corrupt.arm(term); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		report("corrupt-store armed: the next " + strings.TrimSpace(term) + " values put are stored corrupted on this member")
		writeJSON(w, corrupt.state())
	})
	mux.HandleFunc("DELETE /corrupt-store", func(w http.ResponseWriter, r *http.Request) {
		corrupt.disarm()
		report("corrupt-store disarmed")
		writeJSON(w, corrupt.state())
	})
	return mux
}

func readTerm(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 256))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", false
	}
	return string(b), true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
