package missionarchive

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"violet/ent"
	"violet/internal/evidence"
	"violet/internal/export"
	"violet/internal/mission"
)

// Deps are what the archive's workflows need.
type Deps struct {
	Ent   *ent.Client
	Store evidence.Store
	// Decodes and DecodeWait are the evidence service's (imported images
	// get their previews as uploads do).
	Decodes    *evidence.DecodeBudget
	DecodeWait time.Duration
	Now        func() time.Time // nil means time.Now
}

// Service runs the archive's use cases: export, read, preview, import.
// It is cheap to build: handlers build one per request.
type Service struct {
	d Deps
}

// NewService returns the archive's workflows over d.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

// Export writes the mission as the viewer sees it (whoever may export the
// mission's JSON may export its archive: blue members get the released
// tests only, as in every export) as one zip: manifest.json, the JSON
// export's document, then each evidence file it names under
// evidence/<sha256>, once per distinct content. It is streamed: the rows
// are read before the first byte, each file is copied from the evidence
// store as the zip is written, and its SHA-256 is checked as it is copied
// (a stored file that no longer matches its row cuts the download short
// rather than put a file in the archive the import would refuse).
func (s *Service) Export(ctx context.Context, a *mission.Access) (export.File, error) {
	doc, files, err := export.MissionDocument(ctx, s.d.Ent, a, s.d.Now())
	if err != nil {
		return export.File{}, err
	}
	write := func(w io.Writer) error {
		zw := zip.NewWriter(w)
		mw, err := zw.CreateHeader(&zip.FileHeader{Name: ManifestName, Method: zip.Deflate, Modified: s.d.Now().UTC()})
		if err != nil {
			return err
		}
		if err := doc.Body(mw); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, f := range files {
			if seen[f.Sha256] {
				continue
			}
			seen[f.Sha256] = true
			if err := s.copyFile(ctx, zw, f); err != nil {
				return err
			}
		}
		return zw.Close()
	}
	return export.NewStream("application/zip", a.Mission.Name, "mission.zip", write), nil
}

// copyFile adds one evidence file's bytes to the archive. Evidence is
// mostly images and archives already compressed: it is stored, not
// deflated, which also keeps the export's CPU cost at a copy.
func (s *Service) copyFile(ctx context.Context, zw *zip.Writer, f *ent.EvidenceFile) error {
	r, err := s.d.Store.Open(ctx, f.StoredKey)
	if err != nil {
		return fmt.Errorf("open evidence %s: %w", f.ID, err)
	}
	defer r.Close()
	w, err := zw.CreateHeader(&zip.FileHeader{Name: EvidencePrefix + f.Sha256, Method: zip.Store, Modified: f.CreatedAt.UTC()})
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return fmt.Errorf("copy evidence %s: %w", f.ID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.Sha256 || n != f.Size {
		return fmt.Errorf("evidence %s: the stored file no longer matches its SHA-256", f.ID)
	}
	return nil
}
