package handlers

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/evidence"
	"violet/internal/i18n"
	"violet/internal/metrics"
	"violet/internal/mission"
	"violet/internal/paths"
	mtviews "violet/views/missiontest"
)

// Evidence upload bounds: what the form may add to the files (captions,
// side, multipart headers) on top of the size limit; the files of one
// request are bounded by evidence.MaxFiles.
const (
	evidenceFormOverhead = 1 << 20
	// evidenceBodyCeiling is the route's body limit before the setting is
	// read: the largest the settings form allows (1 GiB) plus the form.
	evidenceBodyCeiling = 1<<30 + evidenceFormOverhead
	evidenceUploadPath  = paths.Evidence
)

// evidenceCSP is the policy of a served evidence file: it may load
// nothing and runs sandboxed, should a browser ever render it.
const evidenceCSP = "default-src 'none'; sandbox"

// evidenceRef reads the route's mission, test and, when the route has
// one, evidence file ids; a malformed one is a 404. It carries the
// viewer's access to the mission when requireMissionRole has loaded it.
func evidenceRef(c echo.Context) (ref evidence.Ref, err error) {
	ref.Access, _ = c.Get(accessKey).(*mission.Access)
	ref.Mission, err = uuid.Parse(c.Param("id"))
	if err == nil {
		ref.Test, err = uuid.Parse(c.Param("test"))
	}
	if err == nil && c.Param("ev") != "" {
		ref.File, err = uuid.Parse(c.Param("ev"))
	}
	if err != nil {
		return ref, echo.ErrNotFound
	}
	return ref, nil
}

// renderEvidence answers with the test's evidence section, changed by
// edit when not nil: alone for htmx, on a page of its own otherwise.
func (s *Server) renderEvidence(c echo.Context, status int, t *evidence.Test, edit func(*mtviews.EvidenceSection)) error {
	sec, err := s.evidenceService().Section(c.Request().Context(), t)
	if err != nil {
		return err
	}
	if edit != nil {
		edit(&sec)
	}
	fragment := mtviews.Evidence(sec)
	if isPartial(c.Request()) {
		return s.render(c, status, fragment, nil)
	}
	a := t.Access
	lp := s.layoutProps(c, "evidence.page_title", "nav.missions")
	lp.Title = i18n.T(c.Request().Context(), "evidence.page_title") + " · " + t.Test.Name
	lp.Live = s.liveURL(a.Mission.ID)
	p := mtviews.EvidencePageProps{
		MissionID: a.Mission.ID.String(), MissionName: a.Mission.Name, TestName: t.Test.Name,
		TestURL: t.URL(), CanManage: a.CanManage(), Section: sec,
	}
	return s.render(c, status, mtviews.EvidencePage(lp, p), fragment)
}

// showEvidence renders a test's evidence: the section the test page
// fetches, or a page of its own without JavaScript.
func (s *Server) showEvidence(c echo.Context) error {
	ref, err := evidenceRef(c)
	if err != nil {
		return err
	}
	t, err := s.evidenceService().Load(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	return s.renderEvidence(c, http.StatusOK, t, nil)
}

// evidenceChanged answers a change of a test's evidence: back to the
// evidence page (where the form lives without JavaScript) with a flash,
// or the section with the notice for htmx.
func (s *Server) evidenceChanged(c echo.Context, t *evidence.Test, notice string) error {
	if !isPartial(c.Request()) {
		s.flash(c, "success", notice)
		return c.Redirect(http.StatusSeeOther, paths.URL(paths.Evidence, t.Access.Mission.ID, t.Test.ID))
	}
	return s.renderEvidence(c, http.StatusOK, t, func(sec *mtviews.EvidenceSection) { sec.NoticeKey = notice })
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

// readUpload streams the multipart body into up: each file is checked,
// hashed and stored as it arrives; refused files are listed by up.
func readUpload(ctx context.Context, body io.Reader, boundary string, up *evidence.Upload) error {
	mr := multipart.NewReader(body, boundary)
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
			var rerr *evidence.ReadError
			switch err := up.Add(ctx, part.FileName(), part); {
			case err == nil, errors.As(err, new(*evidence.Refusal)): // a refusal is listed by up
			case errors.Is(err, evidence.ErrTooLarge):
				return echo.ErrStatusRequestEntityTooLarge
			case errors.As(err, &rerr):
				return bodyError(rerr.Err)
			default:
				return err
			}
		case "caption":
			up.AddCaption(part.Value)
		case "side":
			up.SetSide(part.Value)
		}
		if err := part.Close(); err != nil {
			return bodyError(err)
		}
	}
}

// uploadEvidence attaches files to a test (evidence.Upload): the body is
// streamed file by file to the store, then every row, its audit event and
// the live update are written in one transaction. All or nothing: a
// refused file (422), a file over the limit (413) or a client gone
// mid-upload (400) leaves no row and no file.
func (s *Server) uploadEvidence(c echo.Context) error {
	ref, err := evidenceRef(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	up, err := s.evidenceService().BeginUpload(ctx, ref)
	if err != nil {
		return err
	}
	// The upload's outcome for the metrics, settled on the way out.
	outcome, accepted := metrics.OutcomeFailed, int64(0)
	defer func() { s.Metrics.EvidenceUpload(outcome, accepted) }()
	defer up.Discard(ctx) // what was stored, unless committed
	req := c.Request()
	limit := up.MaxBytes + evidenceFormOverhead
	if req.ContentLength > limit {
		outcome = metrics.OutcomeRefused
		return echo.ErrStatusRequestEntityTooLarge
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEMultipartForm || params["boundary"] == "" {
		return echo.ErrBadRequest
	}

	// A large upload outlasts REQUEST_TIMEOUT: reading the body is bounded
	// by the client (a client gone fails the read), and what comes after
	// it (the database, the answer) gets a deadline of its own.
	if err := readUpload(context.WithoutCancel(ctx), req.Body, params["boundary"], up); err != nil {
		var he *echo.HTTPError
		if errors.Is(err, evidence.ErrTooManyFiles) || errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			outcome = metrics.OutcomeRefused
		}
		return err
	}
	dbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Config.RequestTimeout)
	defer cancel()
	c.SetRequest(req.WithContext(dbCtx)) // rendering the answer checks it too

	res, err := up.Commit(dbCtx)
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		// 422 with the section, the refused files and why, and the
		// captions typed.
		outcome = metrics.OutcomeRefused
		return s.renderEvidence(c, http.StatusUnprocessableEntity, up.Test, func(sec *mtviews.EvidenceSection) {
			sec.NoticeKey, sec.Failed, sec.Refused, sec.Captions = invalid.Key, true, up.Refused(), up.Captions()
		})
	}
	if err != nil {
		return err
	}
	outcome, accepted = metrics.OutcomeAccepted, res.Bytes
	return s.evidenceChanged(c, up.Test, "evidence.uploaded")
}

// sendEvidence streams f as an attachment or inline (disposition), with
// the headers of a served evidence file: never sniffed, never run, never
// cached.
func sendEvidence(c echo.Context, f *evidence.File, disposition string) error {
	defer f.Body.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.ContentType)
	h.Set(echo.HeaderContentDisposition, evidence.ContentDisposition(disposition, f.Row.OriginalName))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", evidenceCSP)
	h.Set("Cache-Control", "private, no-store")
	if f.Length >= 0 {
		h.Set(echo.HeaderContentLength, strconv.FormatInt(f.Length, 10))
	}
	c.Response().WriteHeader(http.StatusOK)
	_, err := io.Copy(c.Response(), f.Body)
	return err
}

// downloadEvidence sends the original bytes as an attachment, streamed
// from the store; a GET is audited.
func (s *Server) downloadEvidence(c echo.Context) error {
	ref, err := evidenceRef(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f, err := s.evidenceService().Download(ctx, ref, c.Request().Method == http.MethodGet)
	if errors.Is(err, evidence.ErrNotFound) {
		s.Log.Error("evidence file missing from the store", "id", requestIDFrom(ctx), "evidence", ref.File)
	}
	if err != nil {
		return err
	}
	return sendEvidence(c, f, "attachment")
}

// showEvidencePreview sends an image's re-encoded preview inline, for
// <img> in the page and the report.
func (s *Server) showEvidencePreview(c echo.Context) error {
	ref, err := evidenceRef(c)
	if err != nil {
		return err
	}
	f, err := s.evidenceService().Preview(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	return sendEvidence(c, f, "inline")
}

// deleteEvidence deletes a file (evidence.Service.Delete: soft, by its
// uploader, the mission's lead or a holder of evidence.delete).
func (s *Server) deleteEvidence(c echo.Context) error {
	ref, err := evidenceRef(c)
	if err != nil {
		return err
	}
	t, err := s.evidenceService().Delete(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	return s.evidenceChanged(c, t, "evidence.deleted")
}
