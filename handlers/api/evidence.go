package api

import (
	"context"
	"errors"
	"io"

	"violet/ent/evidencefile"
	"violet/internal/app"
	"violet/internal/evidence"
)

// ListEvidence lists a test's evidence files.
func (s *Server) ListEvidence(ctx context.Context, req ListEvidenceRequestObject) (ListEvidenceResponseObject, error) {
	t, err := s.d.Evidence.Load(ctx, evidence.Ref{Mission: req.MissionId, Test: req.TestId})
	if err != nil {
		return nil, err
	}
	files, err := s.d.Ent.EvidenceFile.Query().
		Where(evidencefile.MissionTestID(t.Test.ID)).
		Order(evidencefile.ByCreatedAt(), evidencefile.ByID()).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Evidence, 0, len(files))
	for _, f := range files {
		out = append(out, Evidence{Id: f.ID, Name: f.OriginalName, ContentType: f.ContentType, Size: f.Size,
			Sha256: f.Sha256, CreatedAt: f.CreatedAt})
	}
	return ListEvidence200JSONResponse{Items: out}, nil
}

// UploadEvidence streams each `file` part to the store and attaches them
// all in one transaction (evidence.Upload), as the page's form does: all
// or nothing.
func (s *Server) UploadEvidence(ctx context.Context, req UploadEvidenceRequestObject) (UploadEvidenceResponseObject, error) {
	up, err := s.d.Evidence.BeginUpload(ctx, evidence.Ref{Mission: req.MissionId, Test: req.TestId})
	if err != nil {
		return nil, err
	}
	defer up.Discard(ctx)
	err = eachPart(req.Body, func(name, filename string, r io.Reader) error {
		if name != "file" || filename == "" {
			return nil
		}
		err := up.Add(ctx, filename, r)
		if errors.As(err, new(*evidence.Refusal)) {
			return nil // listed by up
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r := up.Refused(); len(r) > 0 {
		inv := &app.Invalid{}
		for _, x := range r {
			inv.Add("file:"+x.Name, x.Reason)
		}
		return nil, inv
	}
	done, err := up.Commit(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Evidence, 0, len(done.Files))
	for _, f := range done.Files {
		out = append(out, Evidence{Id: f.ID, Name: f.OriginalName, ContentType: f.ContentType, Size: f.Size,
			Sha256: f.Sha256, CreatedAt: f.CreatedAt})
	}
	return UploadEvidence201JSONResponse{Items: out}, nil
}

// DownloadEvidence streams a file's original bytes; the download is
// audited, as on the page.
func (s *Server) DownloadEvidence(ctx context.Context, req DownloadEvidenceRequestObject) (DownloadEvidenceResponseObject, error) {
	f, err := s.d.Evidence.Download(ctx, evidence.Ref{Mission: req.MissionId, Test: req.TestId, File: req.EvidenceId}, true)
	if err != nil {
		return nil, err
	}
	// The generated response closes the store's reader once sent.
	return DownloadEvidence200ApplicationoctetStreamResponse{Body: f.Body, ContentLength: f.Length}, nil
}
