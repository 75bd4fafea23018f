package benchmark

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress redraws a progress bar of the requests done, from its own
// goroutine: the clients only bump an atomic counter.
type progress struct {
	bar            *progressbar.ProgressBar
	w              io.Writer
	done           *atomic.Int64
	stopc, stopped chan struct{}
}

// progressInterval is how often the bar is redrawn.
const progressInterval = 100 * time.Millisecond

// newProgress starts drawing on w (nil: nothing) a bar of total requests,
// of which done are done.
func newProgress(w io.Writer, name string, total int64, done *atomic.Int64) *progress {
	p := &progress{w: w, done: done}
	if w == nil {
		return p
	}
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("req"),
		progressbar.OptionSetPredictTime(true),
	)
	p.stopc, p.stopped = make(chan struct{}), make(chan struct{})
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = p.bar.Set64(p.done.Load())
		case <-p.stopc:
			return
		}
	}
}

// stop draws the bar one last time and ends its line.
func (p *progress) stop() {
	if p.bar == nil {
		return
	}
	close(p.stopc)
	<-p.stopped
	_ = p.bar.Set64(p.done.Load())
	_ = p.bar.Exit()
	fmt.Fprintln(p.w)
}
