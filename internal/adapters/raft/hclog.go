package raft

import (
	"fmt"
	"io"
	"log"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogAdapter lets hashicorp/raft log through zerolog.
type hclogAdapter struct {
	zl   zerolog.Logger
	name string
	args []any
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLog(zl zerolog.Logger) hclog.Logger { return &hclogAdapter{zl: zl} }

func (l *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	var ev *zerolog.Event
	switch level {
	case hclog.Trace, hclog.Debug:
		ev = l.zl.Debug()
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		ev = l.zl.Info()
	case hclog.Warn:
		ev = l.zl.Warn()
	case hclog.Error:
		ev = l.zl.Error()
	default:
		return
	}
	if ev == nil {
		return
	}
	if l.name != "" {
		ev = ev.Str("raft", l.name)
	}
	all := append(append([]any(nil), l.args...), args...)
	for i := 0; i+1 < len(all); i += 2 {
		ev = field(ev, fmt.Sprint(all[i]), all[i+1])
	}
	ev.Msg(msg)
}

// field adds one of hashicorp/raft's key-value pairs to ev in a readable
// form: errors and Stringers as text, hclog.Fmt values formatted.
func field(ev *zerolog.Event, key string, v any) *zerolog.Event {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) > 0 {
			if f, ok := v[0].(string); ok {
				return ev.Str(key, fmt.Sprintf(f, v[1:]...))
			}
		}
		return ev.Str(key, fmt.Sprint(v...))
	case error:
		return ev.AnErr(key, v)
	case fmt.Stringer:
		return ev.Stringer(key, v)
	case string, bool, int, int64, uint64, uint32, float64, time.Duration:
		return ev.Interface(key, v)
	}
	return ev.Str(key, fmt.Sprintf("%+v", v))
}

func (l *hclogAdapter) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *hclogAdapter) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *hclogAdapter) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *hclogAdapter) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *hclogAdapter) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *hclogAdapter) IsTrace() bool { return false }
func (l *hclogAdapter) IsDebug() bool { return l.zl.GetLevel() <= zerolog.DebugLevel }
func (l *hclogAdapter) IsInfo() bool  { return l.zl.GetLevel() <= zerolog.InfoLevel }
func (l *hclogAdapter) IsWarn() bool  { return l.zl.GetLevel() <= zerolog.WarnLevel }
func (l *hclogAdapter) IsError() bool { return l.zl.GetLevel() <= zerolog.ErrorLevel }

func (l *hclogAdapter) ImpliedArgs() []any { return l.args }

func (l *hclogAdapter) With(args ...any) hclog.Logger {
	return &hclogAdapter{zl: l.zl, name: l.name, args: append(append([]any(nil), l.args...), args...)}
}

func (l *hclogAdapter) Name() string { return l.name }

func (l *hclogAdapter) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return &hclogAdapter{zl: l.zl, name: name, args: l.args}
}

func (l *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return &hclogAdapter{zl: l.zl, name: name, args: l.args}
}

// SetLevel is ignored: the level is zerolog's.
func (l *hclogAdapter) SetLevel(hclog.Level) {}

func (l *hclogAdapter) GetLevel() hclog.Level {
	switch l.zl.GetLevel() {
	case zerolog.DebugLevel, zerolog.TraceLevel:
		return hclog.Debug
	case zerolog.InfoLevel:
		return hclog.Info
	case zerolog.WarnLevel:
		return hclog.Warn
	case zerolog.ErrorLevel:
		return hclog.Error
	}
	return hclog.Off
}

func (l *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		l.zl.Info().Msg(string(trimNewline(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
