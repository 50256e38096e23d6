package handlers

import (
	"context"
	"time"
)

// ReapInterval is how often ReapJobsEvery looks for jobs whose instance
// died.
const ReapInterval = 30 * time.Second

// ReapJobs marks the ATT&CK syncs and library imports whose instance is
// gone as failed ("interrupted"). It looks at each running job's liveness
// lock rather than at its age, so jobs running in another instance behind
// the same load balancer are left alone.
func (s *Server) ReapJobs(ctx context.Context) {
	if n, err := s.Syncer.Reap(ctx); err != nil && ctx.Err() == nil {
		s.Log.Warn("look for interrupted ATT&CK syncs", "err", err)
	} else if n > 0 {
		s.Log.Warn("ATT&CK syncs whose instance stopped marked as failed", "count", n)
	}
	if n, err := s.reapImports(ctx); err != nil && ctx.Err() == nil {
		s.Log.Warn("look for interrupted library imports", "err", err)
	} else if n > 0 {
		s.Log.Warn("library imports whose instance stopped marked as failed", "count", n)
	}
}

// ReapJobsEvery reaps at once and then every interval until ctx ends
// (run it in its own goroutine: `go srv.ReapJobsEvery(ctx, ReapInterval)`):
// an instance that dies mid-job is noticed by the others.
func (s *Server) ReapJobsEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.ReapJobs(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
