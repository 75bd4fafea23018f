package auth

import (
	"sync"
	"time"
)

// limiter slows down password guessing. Each failed login counts against
// the user's name and against the source address; after freeFailures in a
// row, a key must wait before its next attempt, twice as long after each
// further failure, up to maxDelay. A success clears the user's count (not
// the source's: one right password does not license a source to guess
// others).
type limiter struct {
	mu      sync.Mutex
	entries map[string]*attempts
	now     func() time.Time
}

type attempts struct {
	failures int
	until    time.Time // no attempt before
	last     time.Time
}

const (
	freeFailures   = 3
	firstDelay     = 250 * time.Millisecond
	maxDelay       = 30 * time.Second
	forgetAfter    = 15 * time.Minute // a key idle for this long starts afresh
	maxLimiterKeys = 100000
)

func newLimiter(now func() time.Time) *limiter {
	return &limiter{entries: map[string]*attempts{}, now: now}
}

// wait returns how long the keys must still wait before an attempt (0:
// go on).
func (l *limiter) wait(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var w time.Duration
	for _, k := range keys {
		if a := l.entries[k]; a != nil {
			w = max(w, a.until.Sub(now))
		}
	}
	return w
}

// fail counts a failed attempt against each key.
func (l *limiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.entries) >= maxLimiterKeys {
		l.sweep(now)
	}
	for _, k := range keys {
		a := l.entries[k]
		if a == nil || now.Sub(a.last) > forgetAfter {
			if a == nil && len(l.entries) >= maxLimiterKeys {
				continue // full of keys that are all still slowed down
			}
			a = &attempts{}
			l.entries[k] = a
		}
		a.failures++
		a.last = now
		if n := a.failures - freeFailures; n >= 0 {
			d := maxDelay
			if n < 20 {
				d = min(firstDelay<<n, maxDelay)
			}
			a.until = now.Add(d)
		}
	}
}

// succeed clears the keys' counts.
func (l *limiter) succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.entries, k)
	}
}

// sweep forgets the keys idle for forgetAfter.
func (l *limiter) sweep(now time.Time) {
	for k, a := range l.entries {
		if now.Sub(a.last) > forgetAfter {
			delete(l.entries, k)
		}
	}
}
