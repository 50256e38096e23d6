package handlers

import (
	"context"
	"time"

	"violet/internal/attack"
	"violet/internal/job"
	"violet/internal/libraryimport"
)

// ReapInterval is how often ReapJobsEvery looks for jobs whose instance
// died.
const ReapInterval = 30 * time.Second

// jobKinds are the kinds of job the server runs (see internal/job).
func jobKinds() []job.Kind { return []job.Kind{attack.Syncs{}, libraryimport.Imports{}} }

// ReapJobs marks the ATT&CK syncs and library imports whose instance is
// gone as failed ("interrupted"), looking at each running job's liveness
// lock rather than at its age (see job.Runner.Reap).
func (s *Server) ReapJobs(ctx context.Context) { s.Jobs.ReapAll(ctx, jobKinds()...) }

// ReapJobsEvery reaps at once and then every interval until ctx ends
// (run it in its own goroutine: `go srv.ReapJobsEvery(ctx, ReapInterval)`).
func (s *Server) ReapJobsEvery(ctx context.Context, interval time.Duration) {
	s.Jobs.ReapEvery(ctx, interval, jobKinds()...)
}
