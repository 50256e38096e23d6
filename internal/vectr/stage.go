package vectr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/evidence"
)

// The web import has two steps: the upload, answered with the mapping to
// confirm, and the confirmation, which runs the import; the second
// request may reach another instance. In between, the upload waits in the
// evidence store, which every instance shares, under a key that starts
// with the uploader's id (so nobody else's confirmation can name it)
// followed by a random part; nothing of it travels through the browser but
// that key. No row names it, so the evidence sweep removes an upload
// nobody confirmed once it is old enough (evidence.SweepAge); a confirmed
// one is removed at once.

// WithStore keeps staged uploads in store (the evidence store).
func (s *Service) WithStore(store evidence.Store) *Service { s.store = store; return s }

// stageKey is the staging key prefix of the viewer: their id, hex.
func stageKey(v *auth.Viewer) string { return strings.ReplaceAll(v.UserID.String(), "-", "") }

// Prepared is an upload read and staged: its token for the confirmation,
// what it holds and the mapping proposed.
type Prepared struct {
	Token    string
	Name     string // the uploaded file's name
	Export   *Export
	Proposal Proposal
}

// Prepare reads an uploaded export (data, named name), keeps it for the
// confirmation and proposes its mapping. A file that is not an export is
// a *Refused naming its line; nothing is kept then.
func (s *Service) Prepare(ctx context.Context, name string, data []byte) (Prepared, error) {
	var p Prepared
	if _, err := allowed(ctx); err != nil {
		return p, err
	}
	e, err := Parse(bytes.NewReader(data))
	if err != nil {
		return p, err
	}
	if e.Tests() == 0 {
		return p, &Refused{Cause: "no test case to import"}
	}
	if p.Proposal, err = s.Propose(ctx, e); err != nil {
		return p, err
	}
	if s.store == nil {
		return p, errors.New("vectr: no store to stage uploads in")
	}
	p.Token, p.Name, p.Export = stageKey(auth.FromContext(ctx))+evidence.NewKey(), name, e
	if _, err := s.store.Put(ctx, p.Token, bytes.NewReader(data)); err != nil {
		return p, fmt.Errorf("stage the upload: %w", err)
	}
	return p, nil
}

// Staged reads the upload of token again (the mapping step's page, shown
// again with errors). An unknown or expired token is app.ErrNotFound.
func (s *Service) Staged(ctx context.Context, token string) (Prepared, error) {
	var p Prepared
	if _, err := allowed(ctx); err != nil {
		return p, err
	}
	data, err := s.read(ctx, token)
	if err != nil {
		return p, err
	}
	e, err := Parse(bytes.NewReader(data))
	if err != nil {
		return p, err
	}
	p.Token, p.Export = token, e
	p.Proposal, err = s.Propose(ctx, e)
	return p, err
}

// forget removes the upload of token once imported.
func (s *Service) forget(ctx context.Context, token string) {
	if s.store != nil {
		_ = s.store.Delete(ctx, token)
	}
}

// read reads a staged upload: only the viewer's own (the key's prefix),
// bounded as an upload is.
func (s *Service) read(ctx context.Context, token string) ([]byte, error) {
	v := auth.FromContext(ctx)
	if s.store == nil || v == nil || len(token) != 64 || !strings.HasPrefix(token, stageKey(v)) {
		return nil, app.ErrNotFound
	}
	rc, err := s.store.Open(ctx, token)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read the staged upload: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the staged upload: %w", err)
	}
	return data, nil
}
