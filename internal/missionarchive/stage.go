package missionarchive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"violet/internal/app"
	"violet/internal/evidence"
)

// The pages import in two steps, upload then confirm, and the second
// request may reach another instance: between them the archive waits in
// the evidence store, which every instance shares, under a key that
// starts with the uploader's id (so nobody else's confirmation can name
// it) followed by a random part. No row names it, so the evidence sweep
// removes an archive nobody confirmed once it is old enough
// (evidence.SweepAge); a confirmed one is removed at once.

// Previewed is an uploaded archive checked and staged: what importing it
// would do, and the token its confirmation sends back.
type Previewed struct {
	Plan  *Plan
	Token string
}

// PreviewUpload checks an uploaded archive (Read: a bad one is refused
// whole, with the reason, and nothing is kept), says what importing it
// would do (Preview) and stages it for the confirmation.
func (s *Service) PreviewUpload(ctx context.Context, r io.ReaderAt, size int64) (*Previewed, error) {
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	max, err := s.MaxFileBytes(ctx)
	if err != nil {
		return nil, err
	}
	arc, err := Read(r, size, max)
	if err != nil {
		return nil, err
	}
	plan, err := s.Preview(ctx, arc)
	if err != nil {
		return nil, err
	}
	if plan.Already != nil {
		return &Previewed{Plan: plan}, nil // nothing to confirm
	}
	token := strings.ReplaceAll(v.UserID.String(), "-", "") + evidence.NewKey()
	if _, err := s.d.Store.Put(ctx, token, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, fmt.Errorf("stage the archive: %w", err)
	}
	return &Previewed{Plan: plan, Token: token}, nil
}

// ImportStaged imports the archive PreviewUpload staged under token
// (Import), then removes it. A token that is not the viewer's, or whose
// archive is gone (swept, or imported already), is not found.
func (s *Service) ImportStaged(ctx context.Context, token string) (*Imported, error) {
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	if len(token) != 64 || !strings.HasPrefix(token, strings.ReplaceAll(v.UserID.String(), "-", "")) {
		return nil, app.ErrNotFound
	}
	staged, err := s.d.Store.Open(ctx, token)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open the staged archive: %w", err)
	}
	// A zip is read in any order: a local copy gives it a ReaderAt
	// whatever the store (a bucket's object is a stream).
	tmp, err := os.CreateTemp("", "violet-archive-*.zip")
	if err != nil {
		staged.Close()
		return nil, err
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	size, err := io.Copy(tmp, io.LimitReader(staged, MaxArchiveBytes+1))
	staged.Close()
	if err != nil {
		return nil, fmt.Errorf("copy the staged archive: %w", err)
	}
	max, err := s.MaxFileBytes(ctx)
	if err != nil {
		return nil, err
	}
	arc, err := Read(tmp, size, max)
	if err == nil {
		var imp *Imported
		if imp, err = s.Import(ctx, arc); err == nil {
			// The mission is committed; a staged file left behind is the
			// sweep's.
			_ = s.d.Store.Delete(context.WithoutCancel(ctx), token)
			return imp, nil
		}
	}
	// A refused archive cannot become acceptable: it is removed too.
	if _, refused := asRefused(err); refused {
		_ = s.d.Store.Delete(context.WithoutCancel(ctx), token)
	}
	return nil, err
}
