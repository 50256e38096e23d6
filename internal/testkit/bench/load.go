// Package bench is the machinery of `make bench` (cmd/violet-bench): a
// deterministic dataset at a chosen scale, a closed-loop load generator, the
// two floors of docs/ARCHITECTURE.md (the page's own SQL replayed through
// database/sql, and pre-built bytes of the page's size served by echo) and the
// report (a table and JSON).
package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is the outcome of one load run.
type Stats struct {
	Concurrency int           `json:"concurrency"`
	Requests    int           `json:"requests"`
	Errors      int           `json:"errors"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	RPS         float64       `json:"rps"`
	Mean        time.Duration `json:"mean_ns"`
	P50         time.Duration `json:"p50_ns"`
	P95         time.Duration `json:"p95_ns"`
	P99         time.Duration `json:"p99_ns"`
	FirstError  string        `json:"first_error,omitempty"`
	// Runs is how many runs this is the median of (medianStats); 0 for
	// one run.
	Runs int `json:"runs,omitempty"`
}

// Load calls op from concurrency workers in a closed loop for d (after a
// short warm-up that is not measured) and returns throughput and latency
// percentiles. An op error counts as an error and its latency is kept.
func Load(ctx context.Context, concurrency int, warmup, d time.Duration, op func(context.Context) error) Stats {
	if warmup > 0 {
		loop(ctx, concurrency, warmup, op)
	}
	lat, errs, first, elapsed := loop(ctx, concurrency, d, op)
	s := Stats{Concurrency: concurrency, Requests: len(lat), Errors: errs, Elapsed: elapsed, FirstError: first}
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	s.Mean = sum / time.Duration(len(lat))
	s.P50, s.P95, s.P99 = pct(lat, 50), pct(lat, 95), pct(lat, 99)
	s.RPS = float64(len(lat)) / elapsed.Seconds()
	return s
}

// loop runs the workers until d has passed; each worker keeps its own
// latencies, merged at the end (no lock on the hot path).
func loop(ctx context.Context, concurrency int, d time.Duration, op func(context.Context) error) ([]time.Duration, int, string, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	var (
		stop   atomic.Bool
		errs   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		all    []time.Duration
		first  string
		doneAt time.Time
	)
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			for !stop.Load() && ctx.Err() == nil {
				t := time.Now()
				err := op(ctx)
				mine = append(mine, time.Since(t))
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if first == "" {
						first = err.Error()
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	doneAt = time.Now()
	return all, int(errs.Load()), first, doneAt.Sub(start)
}

// pct returns the p-th percentile of sorted latencies (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}
