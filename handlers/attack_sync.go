package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/setting"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/seed"
	"violet/views/admin"
	"violet/views/components"
)

// syncURLForm is what the "sync from URL" form may set.
type syncURLForm struct {
	URL      string `form:"url"`
	Remember string `form:"remember"`
}

// showAttackSync renders the sync page with the default URL from the
// settings and the last syncs.
func (s *Server) showAttackSync(c echo.Context) error {
	ctx := c.Request().Context()
	return s.renderAttackSync(c, http.StatusOK, admin.SyncForm{URL: s.defaultBundleURL(ctx)}, "")
}

func (s *Server) renderAttackSync(c echo.Context, status int, form admin.SyncForm, uploadErr string) error {
	ctx := c.Request().Context()
	syncs, err := s.Ent.AttackSync.Query().Order(attacksync.ByCreatedAt(sql.OrderDesc())).Limit(50).All(ctx)
	if err != nil {
		return fmt.Errorf("list syncs: %w", err)
	}
	p := admin.SyncPageProps{Form: form, UploadError: uploadErr}
	for _, j := range syncs {
		p.History = append(p.History, syncRow(j))
	}
	v := auth.FromContext(ctx)
	return s.render(c, status, admin.SyncPage(s.layoutProps(c, "attack_sync.title", "nav.admin"),
		adminTabs(v, "/admin/attack-sync"), p), nil)
}

// defaultBundleURL is the attack.source_url setting.
func (s *Server) defaultBundleURL(ctx context.Context) string {
	st, err := s.Ent.Setting.Query().Where(setting.Key(seed.SettingAttackSourceURL)).Only(ctx)
	var u string
	if err == nil && json.Unmarshal(st.Value, &u) == nil {
		return u
	}
	return seed.Settings()[seed.SettingAttackSourceURL].(string)
}

// syncFromURL starts a background sync of the bundle at a URL (and keeps
// the URL as the default when asked), then shows the job's page.
func (s *Server) syncFromURL(c echo.Context) error {
	var f syncURLForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	ctx := c.Request().Context()
	form := admin.SyncForm{URL: strings.TrimSpace(f.URL), Remember: f.Remember != "", Errors: components.Errors{}}
	u, err := url.Parse(form.URL)
	switch {
	case form.URL == "":
		form.Errors["url"] = "form.required"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		form.Errors["url"] = "attack_sync.url.invalid"
	}
	if len(form.Errors) > 0 {
		return s.renderAttackSync(c, http.StatusUnprocessableEntity, form, "")
	}
	if form.Remember {
		value, _ := json.Marshal(form.URL)
		if err := s.Ent.Setting.Update().Where(setting.Key(seed.SettingAttackSourceURL)).SetValue(value).Exec(ctx); err != nil {
			return fmt.Errorf("save the default URL: %w", err)
		}
	}
	job, err := s.Syncer.Begin(ctx, auth.FromContext(ctx), form.URL)
	if err != nil {
		return err
	}
	s.background(func(ctx context.Context) {
		start := time.Now()
		body, size, err := s.Syncer.Fetch(ctx, form.URL)
		if err != nil {
			_ = s.Syncer.Fail(ctx, job, err)
			s.Metrics.ObserveSync(false, time.Since(start))
			return
		}
		defer body.Close()
		_, err = s.Syncer.Run(ctx, job, body, size, attack.VersionFromName(form.URL), attack.PhaseDownload)
		s.Metrics.ObserveSync(err == nil, time.Since(start))
	})
	return c.Redirect(http.StatusSeeOther, "/admin/attack-sync/"+job.ID.String())
}

// syncUpload streams an uploaded bundle to a temporary file, starts a
// background sync of it and shows the job's page. The body is limited to
// 100 MB (bodyLimit); nothing is held in memory.
func (s *Server) syncUpload(c echo.Context) error {
	ctx := c.Request().Context()
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return s.renderAttackSync(c, http.StatusUnprocessableEntity, admin.SyncForm{URL: s.defaultBundleURL(ctx)}, "attack_sync.upload.missing")
	}
	var (
		tmp  *os.File
		name string
		size int64
	)
	for {
		part, err := nextUploadPart(mr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			discard(tmp)
			return uploadError(err)
		}
		if part.FormName() != "bundle" || part.FileName() == "" || tmp != nil {
			part.Close()
			continue
		}
		name = filepath.Base(part.FileName())
		if tmp, err = os.CreateTemp("", "violet-bundle-*.json"); err != nil {
			return err
		}
		size, err = io.Copy(tmp, part)
		part.Close()
		if err != nil {
			discard(tmp)
			return fmt.Errorf("store the upload: %w", err)
		}
	}
	if tmp == nil || size == 0 {
		discard(tmp)
		return s.renderAttackSync(c, http.StatusUnprocessableEntity, admin.SyncForm{URL: s.defaultBundleURL(ctx)}, "attack_sync.upload.missing")
	}
	job, err := s.Syncer.Begin(ctx, auth.FromContext(ctx), name)
	if err != nil {
		discard(tmp)
		return err
	}
	s.background(func(ctx context.Context) {
		defer discard(tmp)
		start := time.Now()
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			_ = s.Syncer.Fail(ctx, job, err)
			s.Metrics.ObserveSync(false, time.Since(start))
			return
		}
		_, err := s.Syncer.Run(ctx, job, tmp, size, attack.VersionFromName(name), attack.PhaseRead)
		s.Metrics.ObserveSync(err == nil, time.Since(start))
	})
	return c.Redirect(http.StatusSeeOther, "/admin/attack-sync/"+job.ID.String())
}

// discard closes and removes a temporary file.
func discard(f *os.File) {
	if f != nil {
		f.Close()
		os.Remove(f.Name())
	}
}

// showAttackSyncJob renders a sync's page, or only its progress card for
// the card's own refresh.
func (s *Server) showAttackSyncJob(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	job, err := s.Ent.AttackSync.Get(ctx, id)
	if err != nil {
		return err
	}
	if job.Status == attacksync.StatusRunning {
		// The page is polled while the sync runs: a sync whose instance
		// died shows as failed at once rather than at the next sweep.
		if n, err := s.Syncer.Reap(rule.SystemContext(ctx), id); err != nil {
			s.Log.Warn("check the sync is alive", "sync", id, "err", err)
		} else if n > 0 {
			if job, err = s.Ent.AttackSync.Get(ctx, id); err != nil {
				return err
			}
		}
	}
	r := syncRow(job)
	v := auth.FromContext(ctx)
	return s.render(c, http.StatusOK, admin.SyncJobPage(s.layoutProps(c, "attack_sync.job.title", "nav.admin"),
		adminTabs(v, "/admin/attack-sync"), r), admin.SyncJob(r))
}

func syncRow(j *ent.AttackSync) admin.SyncRow {
	r := admin.SyncRow{
		ID: j.ID.String(), When: j.CreatedAt.UTC().Format("2006-01-02 15:04 MST"), Who: j.StartedByLabel,
		Source: j.Source, Version: j.AttackVersion, Status: string(j.Status), Phase: j.Phase,
		Progress: j.Progress, Error: j.Error, Added: j.Added, Updated: j.Updated, Revoked: j.Revoked, Unchanged: j.Unchanged,
	}
	if j.FinishedAt != nil {
		r.Took = j.FinishedAt.Sub(j.CreatedAt).Round(100 * time.Millisecond).String()
	}
	return r
}
