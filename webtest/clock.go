package webtest

import (
	"sync"
	"time"
)

// FastClock is a [qlsqlite.Clock] whose time runs Speed times faster than
// the system's: with Speed 60 a real second is a minute, so that an hour
// of history (a period a minute) is written in a minute. Call durations
// are measured on the system clock whatever the monitor's clock.
type FastClock struct {
	Start time.Time // the clock's time when it was made
	Speed float64

	real time.Time
}

// NewFastClock returns a clock that starts at start and runs speed times
// faster than the system's.
func NewFastClock(start time.Time, speed float64) *FastClock {
	return &FastClock{Start: start, Speed: speed, real: time.Now()}
}

// Now implements qlsqlite.Clock.
func (c *FastClock) Now() time.Time {
	return c.Start.Add(time.Duration(float64(time.Since(c.real)) * c.Speed))
}

// Ticker implements qlsqlite.Clock: it ticks every d of the clock's time.
func (c *FastClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(max(time.Duration(float64(d)/c.Speed), time.Millisecond))
	ch := make(chan time.Time)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				select {
				case ch <- c.Now():
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			t.Stop()
			close(stop)
		})
	}
}
