package slowlog

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// DefaultInterval is the least time between two warnings of one Warner.
const DefaultInterval = 5 * time.Second

// Warner logs a warning when an operation takes longer than its threshold,
// at most once per interval. The zero value and a nil *Warner never warn.
type Warner struct {
	log       zerolog.Logger
	what      string
	threshold time.Duration
	interval  time.Duration
	now       func() time.Time // time.Now; tests replace it

	mu         sync.Mutex
	last       time.Time     // when the last warning was logged
	suppressed int           // slow operations not logged since then
	worst      time.Duration // the longest of them
}

// New returns a Warner that logs to log when an operation named what ("apply",
// "raft log fsync") takes longer than threshold, at most once per
// DefaultInterval. A threshold of 0 or less turns the warnings off.
func New(log zerolog.Logger, what string, threshold time.Duration) *Warner {
	return &Warner{log: log, what: what, threshold: threshold, interval: DefaultInterval, now: time.Now}
}

// Threshold returns the duration above which an operation is slow (0: never).
func (w *Warner) Threshold() time.Duration {
	if w == nil || w.threshold <= 0 {
		return 0
	}
	return w.threshold
}

// Observe reports whether an operation that took d was slow. When it was,
// and no warning was logged in the last interval, it logs one, with the
// fields that fields adds (nil: none), and how many slow operations were
// left out since the previous warning, and the worst of them.
func (w *Warner) Observe(d time.Duration, fields func(e *zerolog.Event)) bool {
	if w == nil || w.threshold <= 0 || d <= w.threshold {
		return false
	}
	w.mu.Lock()
	now := w.now()
	if !w.last.IsZero() && now.Sub(w.last) < w.interval {
		w.suppressed++
		w.worst = max(w.worst, d)
		w.mu.Unlock()
		return true
	}
	suppressed, worst := w.suppressed, w.worst
	w.last, w.suppressed, w.worst = now, 0, 0
	w.mu.Unlock()

	e := w.log.Warn().
		Float64("took_ms", ms(d)).
		Float64("expected_ms", ms(w.threshold))
	if fields != nil {
		fields(e)
	}
	if suppressed > 0 {
		e = e.Int("slow_since_last_warning", suppressed).Float64("worst_since_last_warning_ms", ms(worst))
	}
	e.Msg(Message(w.what, d, w.threshold))
	return true
}

// Message is the warning's text: "apply took 250ms, expected under 100ms".
func Message(what string, took, expected time.Duration) string {
	return fmt.Sprintf("%s took %v, expected under %v", what, round(took), expected)
}

// round keeps three significant digits or so: 253.412ms, not 253.412087ms.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
