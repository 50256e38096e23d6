package evidence

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/live"
	"violet/internal/mission"
)

// File is an evidence file opened for reading: its row, the type and
// length of what is read (Length -1 when unknown) and the bytes, which the
// caller closes.
type File struct {
	Row         *ent.EvidenceFile
	ContentType string
	Length      int64
	Body        io.ReadCloser
}

// previewBody is a preview whose first bytes were looked at.
type previewBody struct {
	*bufio.Reader
	io.Closer
}

// Download opens the original bytes of ref.File for the viewer and, when
// record is true (a GET: a HEAD sends no bytes), records the download. A
// row whose bytes the store lacks is not found, and the error also wraps
// ErrNotFound: that should never happen, the caller logs it.
func (s *Service) Download(ctx context.Context, ref Ref, record bool) (*File, error) {
	t, f, err := s.loadFile(ctx, ref)
	if err != nil {
		return nil, err
	}
	rc, err := s.d.Store.Open(ctx, f.StoredKey)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: the bytes of evidence %s: %w", app.ErrNotFound, f.ID, err)
	}
	if err != nil {
		return nil, err
	}
	if record {
		err := database.WithTx(ctx, s.d.Ent, func(tx *ent.Tx) error {
			return audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.EvidenceDownloaded, TargetType: Target, TargetID: f.ID.String(), TargetLabel: f.OriginalName,
				Details: map[string]any{"mission_id": t.Access.Mission.ID.String(), "mission_test_id": t.Test.ID.String(), "sha256": f.Sha256},
			})
		})
		if err != nil {
			rc.Close()
			return nil, err
		}
	}
	return &File{Row: f, ContentType: f.ContentType, Length: f.Size, Body: rc}, nil
}

// Preview opens the re-encoded preview (PNG or JPEG, metadata stripped) of
// the image ref.File. Files that are not images have none (not found).
func (s *Service) Preview(ctx context.Context, ref Ref) (*File, error) {
	_, f, err := s.loadFile(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(f.ContentType, "image/") {
		return nil, fmt.Errorf("%w: evidence %s is not an image", app.ErrNotFound, f.ID)
	}
	rc, err := s.d.Store.Open(ctx, PreviewKey(f.StoredKey))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: the preview of evidence %s", app.ErrNotFound, f.ID)
	}
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(rc)
	head, _ := br.Peek(8)
	return &File{Row: f, ContentType: PreviewType(head), Length: -1, Body: previewBody{br, rc}}, nil
}

// Delete deletes the file ref.File (soft: the row is kept for the trash,
// the bytes too), with its audit record and the live update of its test:
// its uploader, the mission's lead or a holder of evidence.delete may,
// while the mission is not archived. It returns the file's test.
func (s *Service) Delete(ctx context.Context, ref Ref) (*Test, error) {
	t, f, err := s.loadFile(ctx, ref)
	if err != nil {
		return nil, err
	}
	a := t.Access
	if !canDelete(a, f) {
		return nil, mission.ErrForbidden
	}
	if a.Archived() {
		return nil, mission.ErrReadOnly
	}
	err = database.WithTx(ctx, s.d.Ent, func(tx *ent.Tx) error {
		if err := tx.EvidenceFile.DeleteOneID(f.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete evidence: %w", err)
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.EvidenceDeleted, TargetType: Target, TargetID: f.ID.String(), TargetLabel: f.OriginalName,
			Details: map[string]any{"mission_id": a.Mission.ID.String(), "mission_test_id": t.Test.ID.String(), "sha256": f.Sha256},
		}); err != nil {
			return err
		}
		return live.PublishTest(ctx, tx, t.Test.ID, a.Viewer.UserID)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SweepOrphans removes the store's orphans: files no row names (deleted
// rows included: their files stay for the trash) older than SweepAge,
// such as those of an upload that failed between the rename and the
// commit, and staging files of interrupted uploads. It is Violet's own
// work, not a viewer's.
func (s *Service) SweepOrphans(ctx context.Context) (int, error) {
	ctx = schema.SkipSoftDelete(rule.SystemContext(ctx))
	known := func(ctx context.Context, keys []string) (map[string]bool, error) {
		out := make(map[string]bool, len(keys))
		if len(keys) == 0 {
			return out, nil
		}
		found, err := s.d.Ent.EvidenceFile.Query().Where(predicate.EvidenceFile(database.In(evidencefile.FieldStoredKey, keys))).
			Select(evidencefile.FieldStoredKey).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("sweep evidence: %w", err)
		}
		for _, k := range found {
			out[k] = true
		}
		return out, nil
	}
	return Sweep(ctx, s.d.Store, known, s.d.Now().Add(-SweepAge))
}

// SweepEvery sweeps the orphans at once and then every interval until ctx
// is done, logging what it removed and why it failed.
func (s *Service) SweepEvery(ctx context.Context, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		switch n, err := s.SweepOrphans(ctx); {
		case err != nil && ctx.Err() == nil:
			log.Warn("sweep the evidence store", "err", err)
		case n > 0:
			log.Info("evidence store: orphan files removed", "files", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
