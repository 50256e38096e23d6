package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/settings"
	"violet/views/admin"
	"violet/views/components"
)

// settingsForm is what the settings form may set: the known keys only,
// each under its own name; nothing else reaches the settings table.
type settingsForm struct {
	OrganisationName      string `form:"organisation_name"`
	DefaultLocale         string `form:"default_locale"`
	SessionIdleMinutes    string `form:"session_idle_minutes"`
	SessionAbsoluteHours  string `form:"session_absolute_hours"`
	InvitationExpiryHours string `form:"invitation_expiry_hours"`
	AttackSourceURL       string `form:"attack_source_url"`
	EvidenceMaxMB         string `form:"evidence_max_mb"`
}

// invalidErrors returns the form errors of a workflow's *app.Invalid (the
// whole form's message under ""), and whether err is one.
func invalidErrors(err error) (components.Errors, bool) {
	var inv *app.Invalid
	if !errors.As(err, &inv) {
		return nil, false
	}
	errs := components.Errors{}
	for f, k := range inv.Fields {
		errs[f] = k
	}
	if inv.Key != "" {
		errs[""] = inv.Key
	}
	return errs, true
}

// showSettings renders the settings form with the saved values.
func (s *Server) showSettings(c echo.Context) error {
	f, err := settings.Current(c.Request().Context(), s.Ent)
	if err != nil {
		return err
	}
	return s.renderSettings(c, http.StatusOK, f)
}

func (s *Server) renderSettings(c echo.Context, status int, f admin.SettingsForm) error {
	lp := s.layoutProps(c, "admin.settings.title", "nav.admin")
	tabs := adminTabs(auth.FromContext(c.Request().Context()), paths.Settings)
	return s.render(c, status, admin.SettingsPage(lp, tabs, f), nil)
}

// updateSettings saves the settings form (settings.Update): a refused
// form comes back with 422, the input kept.
func (s *Server) updateSettings(c echo.Context) error {
	var raw settingsForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &raw); err != nil {
		return echo.ErrBadRequest
	}
	in := settings.Input(raw)
	changed, err := settings.Update(c.Request().Context(), s.Ent, in)
	if errs, ok := invalidErrors(err); ok {
		f := in.Form()
		f.Errors = errs
		return s.renderSettings(c, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	if changed == 0 {
		s.flash(c, "success", "admin.settings.unchanged")
	} else {
		s.flash(c, "success", "admin.settings.saved")
	}
	return c.Redirect(http.StatusSeeOther, paths.Settings)
}
