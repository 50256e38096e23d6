package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/ent/setting"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/seed"
)

// evidenceStore is the blob store of evidence files (Deps.Evidence): the
// directory EVIDENCE_DIR or an S3 bucket, chosen by EVIDENCE_STORE.
func (s *Server) evidenceStore() evidence.Store { return s.Evidence }

// evidenceMaxBytes reads the size limit of one evidence file from the
// settings (evidence.max_upload_bytes), or its default.
func (s *Server) evidenceMaxBytes(ctx context.Context) (int64, error) {
	n, _ := asInt(seed.Settings()[seed.SettingEvidenceMaxUploadBytes])
	row, err := s.Ent.Setting.Query().Where(setting.Key(seed.SettingEvidenceMaxUploadBytes)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return 0, fmt.Errorf("read evidence size limit: %w", err)
	default:
		var v any
		if json.Unmarshal(row.Value, &v) == nil {
			if m, ok := asInt(v); ok && m > 0 {
				n = m
			}
		}
	}
	return int64(n), nil
}

// SweepEvidence removes the evidence store's orphans: files no row names
// (deleted rows included: their files stay for the trash) older than
// evidence.SweepAge, such as those of an upload that failed between the
// rename and the commit, and staging files of interrupted uploads. It is
// Violet's own work, run periodically by the serve command.
func (s *Server) SweepEvidence(ctx context.Context) (int, error) {
	ctx = schema.SkipSoftDelete(rule.SystemContext(ctx))
	known := func(ctx context.Context, keys []string) (map[string]bool, error) {
		out := make(map[string]bool, len(keys))
		if len(keys) == 0 {
			return out, nil
		}
		found, err := s.Ent.EvidenceFile.Query().Where(predicate.EvidenceFile(database.In(evidencefile.FieldStoredKey, keys))).
			Select(evidencefile.FieldStoredKey).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("sweep evidence: %w", err)
		}
		for _, k := range found {
			out[k] = true
		}
		return out, nil
	}
	return evidence.Sweep(ctx, s.evidenceStore(), known, s.Now().Add(-evidence.SweepAge))
}

// SweepEvidenceEvery sweeps the evidence store at once and then every
// interval until ctx is done (the serve command runs it with its signal
// context: `go srv.SweepEvidenceEvery(ctx, evidence.SweepAge)`). It is
// not a background job of the server, so a shutdown never waits for it.
func (s *Server) SweepEvidenceEvery(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		switch n, err := s.SweepEvidence(ctx); {
		case err != nil && ctx.Err() == nil:
			s.Log.Warn("sweep the evidence store", "err", err)
		case n > 0:
			s.Log.Info("evidence store: orphan files removed", "files", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
