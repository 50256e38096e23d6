package handlers

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/views/layout"
)

// render writes page, or fragment when the request is an htmx partial
// request (not boosted, not a history restore), which must then get only
// the piece it swaps. It renders into a buffer first so a template error
// still becomes a clean 500 page instead of half a page.
func (s *Server) render(c echo.Context, status int, page, fragment templ.Component) error {
	c.Response().Header().Add("Vary", "HX-Request")
	comp := page
	if fragment != nil && isPartial(c.Request()) {
		comp = fragment
	}
	buf := s.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.buffers.Put(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// isPartial reports whether htmx asked for a fragment rather than a page.
func isPartial(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" &&
		r.Header.Get("HX-Boosted") != "true" &&
		r.Header.Get("HX-History-Restore-Request") != "true"
}

// layoutProps builds the page frame's properties: title is an i18n key,
// navKey the i18n key of the current navigation entry. It takes the
// pending flash messages, so call it once per page.
func (s *Server) layoutProps(c echo.Context, titleKey, navKey string) layout.Props {
	ctx := c.Request().Context()
	p := layout.Props{
		Title:   i18n.T(ctx, titleKey),
		Assets:  s.Assets,
		Version: s.Version,
		Flashes: s.takeFlashes(c),
		Path:    c.Request().URL.RequestURI(),
	}
	v := auth.FromContext(ctx)
	if v == nil {
		return p
	}
	p.User = &layout.User{DisplayName: v.DisplayName, Email: v.Email, Locale: v.Locale, Unread: v.Unread}
	p.Live = s.liveURL(uuid.Nil)
	p.Nav = []layout.NavItem{{Key: "nav.home", Href: paths.Home}}
	if v.Can(auth.MissionRead) {
		p.Nav = append(p.Nav, layout.NavItem{Key: "nav.missions", Href: paths.Missions})
	}
	if v.Can(auth.TemplateRead) {
		p.Nav = append(p.Nav, layout.NavItem{Key: "nav.library", Href: paths.Templates})
	}
	if v.Can(auth.AttackRead) {
		p.Nav = append(p.Nav, layout.NavItem{Key: "nav.attack", Href: paths.Attack})
	}
	if v.Can(auth.InsightsRead) {
		p.Nav = append(p.Nav, layout.NavItem{Key: "nav.insights", Href: paths.Insights})
	}
	if href := adminHome(v); href != "" {
		p.Nav = append(p.Nav, layout.NavItem{Key: "nav.admin", Href: href})
	}
	for i := range p.Nav {
		p.Nav[i].Current = p.Nav[i].Key == navKey
	}
	return p
}

// adminSections are the administration pages in the order of their tabs,
// with the permission each needs.
func adminSections() []layout.NavItem {
	return []layout.NavItem{
		{Key: "admin.nav.users", Href: paths.Users},
		{Key: "admin.nav.invitations", Href: paths.Invitations},
		{Key: "admin.nav.groups", Href: paths.Groups},
		{Key: "admin.nav.detection_levels", Href: paths.DetectionLevels},
		{Key: "admin.nav.tools", Href: paths.Tools},
		{Key: "admin.nav.settings", Href: paths.Settings},
		{Key: "admin.nav.sign_in", Href: paths.AdminSignIn},
		{Key: "admin.nav.attack_sync", Href: paths.AttackSync},
		{Key: "admin.nav.audit", Href: paths.Audit},
		{Key: "admin.nav.trash", Href: paths.Trash},
	}
}

func adminPermission(href string) auth.Permission {
	switch href {
	case paths.Users:
		return auth.UserRead
	case paths.Invitations:
		return auth.UserInvite
	case paths.Groups:
		return auth.GroupManage
	case paths.DetectionLevels, paths.Tools, paths.Settings, paths.AdminSignIn:
		return auth.SettingsManage
	case paths.AttackSync:
		return auth.AttackSync
	case paths.Audit:
		return auth.AuditRead
	case paths.Trash:
		return auth.TrashManage
	}
	return ""
}

// adminTabs returns the administration sections v may open, current marked.
func adminTabs(v *auth.Viewer, current string) []layout.NavItem {
	var tabs []layout.NavItem
	for _, t := range adminSections() {
		// Sign-in's workflows also need the admin group (signin.Admin).
		if t.Href == paths.AdminSignIn && !v.IsAdmin() {
			continue
		}
		if v.Can(adminPermission(t.Href)) {
			t.Current = t.Href == current
			tabs = append(tabs, t)
		}
	}
	return tabs
}

// adminHome is the first administration page v may open, "" for none.
func adminHome(v *auth.Viewer) string {
	if tabs := adminTabs(v, ""); len(tabs) > 0 {
		return tabs[0].Href
	}
	return ""
}
