package handlers

import (
	"context"
	"time"

	"violet/internal/evidence"
)

// evidenceStore is the blob store of evidence files (Deps.Evidence): the
// directory EVIDENCE_DIR or an S3 bucket, chosen by EVIDENCE_STORE.
func (s *Server) evidenceStore() evidence.Store { return s.Evidence }

// evidenceService returns the evidence workflows over the server's store
// and decode budget; a decode waits for its memory as long as a request
// may last.
func (s *Server) evidenceService() *evidence.Service {
	return evidence.NewService(evidence.Deps{Ent: s.Ent, Store: s.evidenceStore(), Decodes: s.Decodes,
		DecodeWait: s.Config.RequestTimeout, Now: s.Now})
}

// SweepEvidence removes the evidence store's orphans
// (evidence.Service.SweepOrphans). It is Violet's own work, run
// periodically by the serve command.
func (s *Server) SweepEvidence(ctx context.Context) (int, error) {
	return s.evidenceService().SweepOrphans(ctx)
}

// SweepEvidenceEvery sweeps the evidence store at once and then every
// interval until ctx is done (the serve command runs it with its signal
// context: `go srv.SweepEvidenceEvery(ctx, evidence.SweepAge)`). It is
// not a background job of the server, so a shutdown never waits for it.
func (s *Server) SweepEvidenceEvery(ctx context.Context, interval time.Duration) {
	s.evidenceService().SweepEvery(ctx, interval, s.Log)
}
