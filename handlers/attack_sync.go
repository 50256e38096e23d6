package handlers

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/views/admin"
	"violet/views/components"
)

// The ATT&CK sync pages: the syncs are jobs of s.Jobs run by s.Syncer
// (internal/attack, internal/job); the handlers read the form or the
// upload, start the job and show its page.

// showAttackSync renders the sync page with the default URL from the
// settings and the last syncs.
func (s *Server) showAttackSync(c echo.Context) error {
	return s.renderAttackSync(c, http.StatusOK, nil, "")
}

// renderAttackSync renders the sync page with form (nil: the default one)
// and the upload field's error.
func (s *Server) renderAttackSync(c echo.Context, status int, form *admin.SyncForm, uploadErr string) error {
	ctx := c.Request().Context()
	p, err := s.Syncer.Page(ctx, form, uploadErr)
	if err != nil {
		return err
	}
	return s.render(c, status, admin.SyncPage(s.layoutProps(c, "attack_sync.title", "nav.admin"),
		adminTabs(auth.FromContext(ctx), paths.AttackSync), p), nil)
}

// syncFromURL starts a background sync of the bundle at a URL (and keeps
// the URL as the default when asked), then shows the job's page.
func (s *Server) syncFromURL(c echo.Context) error {
	var f struct {
		URL      string `form:"url"`
		Remember string `form:"remember"`
	}
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	in := attack.URLForm{URL: strings.TrimSpace(f.URL), Remember: f.Remember != ""}
	job, err := s.Syncer.StartURL(c.Request().Context(), in, s.Metrics.ObserveSync)
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		form := admin.SyncForm{URL: in.URL, Remember: in.Remember, Errors: components.Errors(invalid.Fields)}
		return s.renderAttackSync(c, http.StatusUnprocessableEntity, &form, "")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.AttackSyncJob, job.ID))
}

// syncUpload streams an uploaded bundle to a temporary file, starts a
// background sync of it and shows the job's page. The body is limited to
// 100 MB (bodyLimit); nothing is held in memory.
func (s *Server) syncUpload(c echo.Context) error {
	missing := func() error {
		return s.renderAttackSync(c, http.StatusUnprocessableEntity, nil, "attack_sync.upload.missing")
	}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return missing()
	}
	var (
		src  attack.Source
		size int64
	)
	for {
		part, err := nextUploadPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			src.Discard()
			return uploadError(err)
		}
		if part.FormName() == "bundle" && part.FileName() != "" && src.Path == "" {
			src, size, err = attack.SaveUpload(part.FileName(), part)
		}
		part.Close()
		if err != nil {
			return err
		}
	}
	if src.Path == "" || size == 0 {
		src.Discard()
		return missing()
	}
	job, err := s.Syncer.Start(c.Request().Context(), src, s.Metrics.ObserveSync)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.AttackSyncJob, job.ID))
}

// showAttackSyncJob renders a sync's page, or only its progress card for
// the card's own refresh.
func (s *Server) showAttackSyncJob(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	r, err := s.Syncer.Show(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, admin.SyncJobPage(s.layoutProps(c, "attack_sync.job.title", "nav.admin"),
		adminTabs(auth.FromContext(c.Request().Context()), paths.AttackSync), r), admin.SyncJob(r))
}
