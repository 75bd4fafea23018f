package http

import (
	"net/http/pprof"

	"github.com/go-chi/chi/v5"

	"github.com/cairnkv/cairn/internal/domain/auth"
)

// pprofRoutes serves Go's runtime profiles under /debug/pprof/ on the
// client port (--enable-pprof; off by default), for `go tool pprof
// http://HOST:2379/debug/pprof/heap`. With auth on only the root role may
// read them: a profile shows the code and the memory of the process, and
// a CPU profile or a trace costs CPU while it runs. /debug/pprof/cmdline
// is not served: a command line may hold --join-user's password.
//
// Importing net/http/pprof also registers these handlers on
// http.DefaultServeMux, which Cairn never serves.
func (s *Server) pprofRoutes(r chi.Router) {
	root := auth.Root()
	r.Get("/debug/pprof/", s.guard(root, pprof.Index))
	r.Get("/debug/pprof/{profile}", s.guard(root, pprof.Index)) // allocs, block, goroutine, heap, mutex, threadcreate
	r.Get("/debug/pprof/profile", s.guard(root, pprof.Profile))
	r.Get("/debug/pprof/trace", s.guard(root, pprof.Trace))
	r.Get("/debug/pprof/symbol", s.guard(root, pprof.Symbol))
	r.Post("/debug/pprof/symbol", s.guard(root, pprof.Symbol))
}
