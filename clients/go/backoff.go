package nksip

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect policy: exponential, capped, with jitter so that a restarted
// server is not hit by every app at once. The zero value means the defaults.
type Backoff struct {
	// Disabled: a broken stream stops the app instead of reconnecting.
	Disabled bool
	// First delay; default 100 ms.
	Initial time.Duration
	// Longest delay; default 10 s.
	Max time.Duration
	// Growth per attempt; default 2.
	Factor float64
	// Share of each delay drawn at random (0: none, 1: anywhere in [0, delay]); default 0.5.
	// A negative value means none.
	Jitter float64
	// Attempts in a row before giving up (the app then closes); 0: unlimited.
	MaxAttempts int
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 100 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Factor < 1 {
		b.Factor = 2
	}
	if b.Jitter == 0 {
		b.Jitter = 0.5
	}
	b.Jitter = math.Min(1, math.Max(0, b.Jitter))
	return b
}

// Delay is the wait before reconnect attempt `attempt` (1 for the first), with `random` in
// [0, 1) drawing the jitter.
func (b Backoff) Delay(attempt int, random float64) time.Duration {
	b = b.withDefaults()
	base := float64(b.Initial) * math.Pow(b.Factor, float64(max(0, attempt-1)))
	base = math.Min(float64(b.Max), base)
	return time.Duration(base * (1 - b.Jitter*random))
}

func (b Backoff) delay(attempt int) time.Duration { return b.Delay(attempt, rand.Float64()) }
