package handlers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/i18n"
	"violet/internal/live"
	"violet/internal/metrics"
	"violet/internal/mission"
	"violet/internal/textrule"
	mtviews "violet/views/missiontest"
)

// evidenceTarget is the audit target type of an evidence file.
const evidenceTarget = "evidence_file"

// Evidence upload bounds: the files of one request, a caption's length,
// and what the form may add to the files (captions, side, multipart
// headers) on top of the size limit.
const (
	evidenceMaxFiles     = 20
	evidenceFormOverhead = 1 << 20
	// evidenceBodyCeiling is the route's body limit before the setting is
	// read: the largest the settings form allows (1 GiB) plus the form.
	evidenceBodyCeiling = 1<<30 + evidenceFormOverhead
	evidenceUploadPath  = "/missions/:id/tests/:test/evidence"
)

// evidenceCSP is the policy of a served evidence file: it may load
// nothing and runs sandboxed, should a browser ever render it.
const evidenceCSP = "default-src 'none'; sandbox"

// evidenceSides lists the sides the viewer may attach files to on t, by
// role on the mission: red members and leads the red side, blue members
// and leads the blue side of released tests. Observers and people who are
// not members (admins reading every mission) attach nothing.
func evidenceSides(a *mission.Access, t *ent.MissionTest) []string {
	if !a.Viewer.Can(auth.EvidenceUpload) {
		return nil
	}
	switch a.Role {
	case rule.RoleLead:
		if t.ReleasedToBlue {
			return []string{"red", "blue"}
		}
		return []string{"red"}
	case rule.RoleRed:
		if a.CanWriteRed() {
			return []string{"red"}
		}
	case rule.RoleBlue:
		if a.CanWriteBlue() && t.ReleasedToBlue {
			return []string{"blue"}
		}
	}
	return nil
}

// canDeleteEvidence: the uploader, the mission's lead, a holder of
// evidence.delete.
func canDeleteEvidence(a *mission.Access, f *ent.EvidenceFile) bool {
	return f.UploadedByID == a.Viewer.UserID || a.Role == rule.RoleLead || a.Viewer.Can(auth.EvidenceDelete)
}

// evidenceSection builds the test's evidence section: its files (with
// their uploaders: two queries) and, for the people who may upload, the
// size limit (one more).
func (s *Server) evidenceSection(ctx context.Context, a *mission.Access, t *ent.MissionTest) (mtviews.EvidenceSection, error) {
	sec := mtviews.EvidenceSection{Base: missionTestURL(a.Mission.ID, t.ID), Archived: a.Archived()}
	sec.Sides = evidenceSides(a, t)
	sec.CanUpload = len(sec.Sides) > 0
	if sec.CanUpload {
		sec.Side = sec.Sides[0]
		if a.Role == rule.RoleBlue {
			sec.Side = "blue"
		}
		max, err := s.evidenceMaxBytes(ctx)
		if err != nil {
			return sec, err
		}
		sec.MaxBytes = max
	}
	files, err := s.Ent.EvidenceFile.Query().
		Where(evidencefile.MissionTestID(t.ID)).
		WithUploadedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		Order(evidencefile.ByCreatedAt(), evidencefile.ByID()).
		All(ctx)
	if err != nil {
		return sec, fmt.Errorf("load evidence: %w", err)
	}
	for _, f := range files {
		item := mtviews.EvidenceItem{
			ID: f.ID.String(), Name: f.OriginalName, Caption: f.Caption, Side: string(f.Side),
			Size: f.Size, SHA256: f.Sha256, At: f.CreatedAt,
			Preview:   strings.HasPrefix(f.ContentType, "image/"),
			CanDelete: canDeleteEvidence(a, f),
		}
		if u := f.Edges.UploadedBy; u != nil {
			item.Uploader = u.DisplayName
		}
		sec.Files = append(sec.Files, item)
	}
	return sec, nil
}

// renderEvidence answers with the evidence section: alone for htmx, on a
// page of its own otherwise.
func (s *Server) renderEvidence(c echo.Context, status int, a *mission.Access, t *ent.MissionTest, sec mtviews.EvidenceSection) error {
	fragment := mtviews.Evidence(sec)
	if isPartial(c.Request()) {
		return s.render(c, status, fragment, nil)
	}
	lp := s.layoutProps(c, "evidence.page_title", "nav.missions")
	lp.Title = i18n.T(c.Request().Context(), "evidence.page_title") + " · " + t.Name
	lp.Live = s.liveURL(a.Mission.ID)
	p := mtviews.EvidencePageProps{
		MissionID: a.Mission.ID.String(), MissionName: a.Mission.Name, TestName: t.Name,
		TestURL: missionTestURL(a.Mission.ID, t.ID), CanManage: a.CanManage(), Section: sec,
	}
	return s.render(c, status, mtviews.EvidencePage(lp, p), fragment)
}

// showEvidence renders a test's evidence: the section the test page
// fetches, or a page of its own without JavaScript.
func (s *Server) showEvidence(c echo.Context) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	sec, err := s.evidenceSection(c.Request().Context(), a, t)
	if err != nil {
		return err
	}
	return s.renderEvidence(c, http.StatusOK, a, t, sec)
}

// upload is what one upload request carries.
type upload struct {
	stored   []*evidence.Stored
	captions []string
	side     string
	refused  []mtviews.EvidenceRefusal
}

// readRecorder remembers the error reading the request body failed with,
// to tell the client's failures (gone mid-upload: 400; over the limit:
// 413) from the store's (500).
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		rr.err = err
	}
	return n, err
}

// bodyError maps a failure to read the request body to its status: a
// body that stalled past BODY_IDLE_TIMEOUT (idleBody) is a 408, for the
// log: its connection is closed already.
func bodyError(err error) error {
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		return echo.ErrStatusRequestEntityTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return echo.NewHTTPError(http.StatusRequestTimeout).SetInternal(err)
	}
	return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
}

// readUpload streams the multipart body: each file is checked, hashed and
// stored as it arrives (evidence.Ingest); refused files are listed. The
// caller discards what was stored when the upload fails.
func (s *Server) readUpload(ctx context.Context, body io.Reader, boundary string, max int64, up *upload) error {
	mr := multipart.NewReader(body, boundary)
	store := s.evidenceStore()
	for {
		part, err := nextUploadPart(mr)
		if errors.Is(err, io.EOF) {
			return nil
		}
		var bad *badTextError
		if errors.As(err, &bad) {
			return err
		}
		if err != nil {
			return bodyError(err)
		}
		switch part.FormName() {
		case "file":
			if part.FileName() == "" {
				break // an empty file input
			}
			if len(up.stored)+len(up.refused) >= evidenceMaxFiles {
				return echo.NewHTTPError(http.StatusUnprocessableEntity)
			}
			rr := &readRecorder{r: part}
			// A decode waits for its memory as long as a request may last.
			st, err := evidence.Ingest(ctx, store, part.FileName(), rr, evidence.Limits{
				MaxBytes: max, Decodes: s.Decodes, DecodeWait: s.Config.RequestTimeout})
			var refusal *evidence.Refusal
			switch {
			case err == nil:
				up.stored = append(up.stored, st)
			case errors.Is(err, evidence.ErrTooLarge):
				return echo.ErrStatusRequestEntityTooLarge
			case rr.err != nil:
				return bodyError(rr.err)
			case errors.As(err, &refusal):
				up.refused = append(up.refused, mtviews.EvidenceRefusal{
					Name: evidence.SanitizeName(part.FileName()), Reason: refusal.Reason})
			default:
				return err
			}
		case "caption":
			up.captions = append(up.captions, strings.TrimSpace(part.Value))
		case "side":
			up.side = strings.TrimSpace(part.Value)
		}
		if err := part.Close(); err != nil {
			return bodyError(err)
		}
	}
}

// uploadEvidence attaches files to a test: several at once, a caption
// each, on the side the viewer's role gives (red members and leads: red;
// blue members: blue, on released tests; a lead may pick blue once the
// test is released). Each file is streamed to the store while hashed,
// checked (type by extension AND content, image dimensions, text) and
// kept under a random key; then every row, its audit event and the live
// update are written in one transaction. All or nothing: a refused file
// (422), a file over the limit (413) or a client gone mid-upload (400)
// leaves no row and no file.
func (s *Server) uploadEvidence(c echo.Context) error {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return err
	}
	sides := evidenceSides(a, t)
	if len(sides) == 0 {
		return mission.ErrForbidden
	}
	if a.Archived() {
		return mission.ErrReadOnly
	}
	ctx := c.Request().Context()
	max, err := s.evidenceMaxBytes(ctx)
	if err != nil {
		return err
	}
	// The upload's outcome for the metrics, settled on the way out.
	outcome, accepted := metrics.OutcomeFailed, int64(0)
	defer func() { s.Metrics.EvidenceUpload(outcome, accepted) }()
	req := c.Request()
	limit := max + evidenceFormOverhead
	if req.ContentLength > limit {
		outcome = metrics.OutcomeRefused
		return echo.ErrStatusRequestEntityTooLarge
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
	boundary, err := multipartBoundary(req)
	if err != nil {
		return echo.ErrBadRequest
	}

	// A large upload outlasts REQUEST_TIMEOUT: reading the body is bounded
	// by the client (a client gone fails the read), and what comes after
	// it (the database, the answer) gets a deadline of its own.
	var up upload
	committed := false
	defer func() {
		if !committed {
			for _, st := range up.stored {
				evidence.Discard(ctx, s.evidenceStore(), st)
			}
		}
	}()
	if err := s.readUpload(context.WithoutCancel(ctx), req.Body, boundary, max, &up); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && (he.Code == http.StatusRequestEntityTooLarge || he.Code == http.StatusUnprocessableEntity) {
			outcome = metrics.OutcomeRefused
		}
		return err
	}
	dbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Config.RequestTimeout)
	defer cancel()
	c.SetRequest(req.WithContext(dbCtx)) // rendering the answer checks it too

	side := sides[0]
	if slices.Contains(sides, up.side) {
		side = up.side
	}
	for i, st := range up.stored {
		// The caption column's own length (bytes, from the schema).
		if rule := textrule.For(schema.EvidenceFile{}, "caption"); rule.Len(caption(up.captions, i)) > rule.Max {
			up.refused = append(up.refused, mtviews.EvidenceRefusal{Name: st.Name, Reason: "evidence.refused.caption"})
		}
	}
	if len(up.stored) == 0 && len(up.refused) == 0 {
		outcome = metrics.OutcomeRefused
		return s.evidenceRefused(c, dbCtx, a, t, up, "evidence.no_file")
	}
	if len(up.refused) > 0 {
		outcome = metrics.OutcomeRefused
		return s.evidenceRefused(c, dbCtx, a, t, up, "evidence.refused_all")
	}
	err = database.WithTx(dbCtx, s.Ent, func(tx *ent.Tx) error {
		for i, st := range up.stored {
			f, err := tx.EvidenceFile.Create().
				SetMissionTestID(t.ID).SetSide(evidencefile.Side(side)).SetUploadedByID(a.Viewer.UserID).
				SetOriginalName(st.Name).SetStoredKey(st.Key).SetContentType(st.Kind.ContentType).
				SetSize(st.Size).SetSha256(st.SHA256).SetCaption(caption(up.captions, i)).
				Save(dbCtx)
			if err != nil {
				return fmt.Errorf("save evidence: %w", err)
			}
			if err := audit.Record(dbCtx, tx.AuditEvent, audit.Event{
				Action: audit.EvidenceUploaded, TargetType: evidenceTarget, TargetID: f.ID.String(), TargetLabel: f.OriginalName,
				Details: map[string]any{
					"mission_id": a.Mission.ID.String(), "mission_test_id": t.ID.String(), "test": t.Name,
					"side": side, "size": st.Size, "sha256": st.SHA256, "content_type": st.Kind.ContentType,
				},
			}); err != nil {
				return err
			}
		}
		return live.PublishTest(dbCtx, tx, t.ID, a.Viewer.UserID)
	})
	if err != nil {
		return err
	}
	committed = true
	outcome = metrics.OutcomeAccepted
	for _, st := range up.stored {
		accepted += st.Size
	}
	if !isPartial(req) {
		// Without JavaScript the form lives on the evidence page: back to it.
		s.flash(c, "success", "evidence.uploaded")
		return c.Redirect(http.StatusSeeOther, missionTestURL(a.Mission.ID, t.ID)+"/evidence")
	}
	sec, err := s.evidenceSection(dbCtx, a, t)
	if err != nil {
		return err
	}
	sec.NoticeKey = "evidence.uploaded"
	return s.renderEvidence(c, http.StatusOK, a, t, sec)
}

// multipartBoundary returns the boundary of a multipart/form-data body.
func multipartBoundary(r *http.Request) (string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEMultipartForm || params["boundary"] == "" {
		return "", errors.New("no multipart boundary")
	}
	return params["boundary"], nil
}

// caption is the i-th caption, "" when there are fewer.
func caption(captions []string, i int) string {
	if i < len(captions) {
		return captions[i]
	}
	return ""
}

// evidenceRefused answers a refused upload: 422 with the section, the
// refused files and why, and the captions typed.
func (s *Server) evidenceRefused(c echo.Context, ctx context.Context, a *mission.Access, t *ent.MissionTest, up upload, key string) error {
	sec, err := s.evidenceSection(ctx, a, t)
	if err != nil {
		return err
	}
	sec.NoticeKey, sec.Failed, sec.Refused, sec.Captions = key, true, up.refused, up.captions
	return s.renderEvidence(c, http.StatusUnprocessableEntity, a, t, sec)
}

// loadEvidence loads the route's test and its evidence file :ev. A file
// of another test or mission, a deleted one and a malformed id are 404.
func (s *Server) loadEvidence(c echo.Context) (*mission.Access, *ent.MissionTest, *ent.EvidenceFile, error) {
	a, t, err := s.loadMissionTest(c)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := uuid.Parse(c.Param("ev"))
	if err != nil {
		return nil, nil, nil, echo.ErrNotFound
	}
	f, err := s.Ent.EvidenceFile.Query().
		Where(evidencefile.ID(id), evidencefile.MissionTestID(t.ID)).
		Only(c.Request().Context())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load evidence: %w", err)
	}
	return a, t, f, nil
}

// setEvidenceHeaders sets the headers of a served evidence file: never
// sniffed, never run, never cached.
func setEvidenceHeaders(h http.Header, contentType, disposition string) {
	h.Set(echo.HeaderContentType, contentType)
	h.Set(echo.HeaderContentDisposition, disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", evidenceCSP)
	h.Set("Cache-Control", "private, no-store")
}

// downloadEvidence sends the original bytes as an attachment, streamed
// from the store, and audits the download.
func (s *Server) downloadEvidence(c echo.Context) error {
	a, t, f, err := s.loadEvidence(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rc, err := s.evidenceStore().Open(ctx, f.StoredKey)
	if errors.Is(err, evidence.ErrNotFound) {
		s.Log.Error("evidence file missing from the store", "id", requestIDFrom(ctx), "evidence", f.ID)
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	if c.Request().Method == http.MethodGet {
		if err := database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
			return audit.Record(ctx, tx.AuditEvent, audit.Event{
				Action: audit.EvidenceDownloaded, TargetType: evidenceTarget, TargetID: f.ID.String(), TargetLabel: f.OriginalName,
				Details: map[string]any{"mission_id": a.Mission.ID.String(), "mission_test_id": t.ID.String(), "sha256": f.Sha256},
			})
		}); err != nil {
			return err
		}
	}
	h := c.Response().Header()
	setEvidenceHeaders(h, f.ContentType, evidence.ContentDisposition("attachment", f.OriginalName))
	h.Set(echo.HeaderContentLength, strconv.FormatInt(f.Size, 10))
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), rc)
	return err
}

// showEvidencePreview sends an image's re-encoded preview (PNG or JPEG,
// metadata stripped) inline, for <img> in the page and the report. Files
// that are not images have none (404).
func (s *Server) showEvidencePreview(c echo.Context) error {
	_, _, f, err := s.loadEvidence(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(f.ContentType, "image/") {
		return echo.ErrNotFound
	}
	rc, err := s.evidenceStore().Open(c.Request().Context(), evidence.PreviewKey(f.StoredKey))
	if errors.Is(err, evidence.ErrNotFound) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	head, _ := br.Peek(8)
	setEvidenceHeaders(c.Response().Header(), evidence.PreviewType(head), evidence.ContentDisposition("inline", f.OriginalName))
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), br)
	return err
}

// deleteEvidence deletes a file (soft: the row is kept for the trash,
// the bytes too): its uploader, the mission's lead or a holder of
// evidence.delete, while the mission is not archived.
func (s *Server) deleteEvidence(c echo.Context) error {
	a, t, f, err := s.loadEvidence(c)
	if err != nil {
		return err
	}
	if !canDeleteEvidence(a, f) {
		return mission.ErrForbidden
	}
	if a.Archived() {
		return mission.ErrReadOnly
	}
	ctx := c.Request().Context()
	err = database.WithTx(ctx, s.Ent, func(tx *ent.Tx) error {
		if err := tx.EvidenceFile.DeleteOneID(f.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete evidence: %w", err)
		}
		if err := audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.EvidenceDeleted, TargetType: evidenceTarget, TargetID: f.ID.String(), TargetLabel: f.OriginalName,
			Details: map[string]any{"mission_id": a.Mission.ID.String(), "mission_test_id": t.ID.String(), "sha256": f.Sha256},
		}); err != nil {
			return err
		}
		return live.PublishTest(ctx, tx, t.ID, a.Viewer.UserID)
	})
	if err != nil {
		return err
	}
	if !isPartial(c.Request()) {
		s.flash(c, "success", "evidence.deleted")
		return c.Redirect(http.StatusSeeOther, missionTestURL(a.Mission.ID, t.ID)+"/evidence")
	}
	sec, err := s.evidenceSection(ctx, a, t)
	if err != nil {
		return err
	}
	sec.NoticeKey = "evidence.deleted"
	return s.renderEvidence(c, http.StatusOK, a, t, sec)
}
