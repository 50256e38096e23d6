package api

import (
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// Limits is how fast one token may call the API: a sustained rate and a
// burst. Each instance counts on its own, so behind N instances a token
// gets up to N times the rate; the limit is there to stop a runaway
// script, not to meter anyone.
type Limits struct {
	PerSecond float64
	Burst     int
}

// DefaultLimits lets a CI job record a few hundred results in one go and
// then ten calls a second.
func DefaultLimits() Limits { return Limits{PerSecond: 10, Burst: 300} }

// Limiter keeps a token bucket per API token.
type Limiter struct {
	limits Limits
	now    func() time.Time
	mu     sync.Mutex
	tokens map[uuid.UUID]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter returns a limiter with limits on the clock now.
func NewLimiter(limits Limits, now func() time.Time) *Limiter {
	return &Limiter{limits: limits, now: now, tokens: map[uuid.UUID]*bucket{}}
}

// idleAfter is how long an unused token's bucket is kept: a full bucket
// is the same as none.
const idleAfter = 10 * time.Minute

// Allow takes one call from the token's bucket, or says how long until
// the next one is allowed.
func (l *Limiter) Allow(token uuid.UUID) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.tokens[token]
	if !ok {
		if len(l.tokens) > 1000 {
			for id, old := range l.tokens {
				if now.Sub(old.seen) > idleAfter {
					delete(l.tokens, id)
				}
			}
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.limits.PerSecond), l.limits.Burst)}
		l.tokens[token] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
