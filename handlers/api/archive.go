package api

import (
	"context"
	"io"
	"net/http"
	"os"

	"violet/internal/app"
	"violet/internal/export"
	"violet/internal/mission"
	"violet/internal/missionarchive"
)

func (d document) VisitExportMissionArchiveResponse(w http.ResponseWriter) error { return d.write(w) }

// ExportMissionArchive sends the whole mission as one zip, as the page.
func (s *Server) ExportMissionArchive(ctx context.Context, req ExportMissionArchiveRequestObject) (ExportMissionArchiveResponseObject, error) {
	d, err := s.exportOf(ctx, req.MissionId, func(a *mission.Access) (export.File, error) { return s.d.Archives.Export(ctx, a) })
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ImportMissionArchive reads an uploaded archive (a zip is read in any
// order: it is spooled to a temporary file first, bounded), then says what
// importing it would do, or imports it.
func (s *Server) ImportMissionArchive(ctx context.Context, req ImportMissionArchiveRequestObject) (ImportMissionArchiveResponseObject, error) {
	tmp, err := os.CreateTemp("", "violet-api-archive-*.zip")
	if err != nil {
		return nil, err
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	var size int64 = -1
	err = eachPart(req.Body, func(name, _ string, r io.Reader) error {
		if name != "archive" || size >= 0 {
			return nil
		}
		n, err := io.Copy(tmp, io.LimitReader(r, missionarchive.MaxArchiveBytes+1))
		size = n
		return err
	})
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, app.Invalidf("archive", "api.archive.no_file")
	}
	max, err := s.d.Archives.MaxFileBytes(ctx)
	if err != nil {
		return nil, err
	}
	arc, err := missionarchive.Read(tmp, size, max)
	if err != nil {
		return nil, err
	}
	plan, err := s.d.Archives.Preview(ctx, arc)
	if err != nil {
		return nil, err
	}
	out := MissionImport{MissionName: plan.MissionName, Tests: plan.Tests, Files: plan.Files, LeftOut: plan.LeftOut,
		Members: make([]ArchiveMember, 0, len(plan.Members))}
	if out.LeftOut == nil {
		out.LeftOut = []string{}
	}
	for _, m := range plan.Members {
		out.Members = append(out.Members, ArchiveMember{Email: m.Email, Role: m.Role})
	}
	if plan.Already != nil {
		return nil, plan.Already // the import would refuse it: so does the dry run
	}
	if req.Params.DryRun != nil && *req.Params.DryRun {
		return ImportMissionArchive200JSONResponse(out), nil
	}
	imp, err := s.d.Archives.Import(ctx, arc)
	if err != nil {
		return nil, err
	}
	out.Applied, out.MissionId = true, &imp.MissionID
	loc := Base + "/missions/" + imp.MissionID.String()
	return ImportMissionArchive201JSONResponse{Body: out, Headers: ImportMissionArchive201ResponseHeaders{Location: &loc}}, nil
}
