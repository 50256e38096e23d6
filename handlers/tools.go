package handlers

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/paths"
	"violet/internal/tools"
	"violet/views/admin"
)

// The registry of defensive tools: the workflows return the form to show
// again when they refuse one, so these handlers only bind, call, render.

func (s *Server) tools() *tools.Service { return tools.NewService(s.Ent) }

// listTools renders the registry (narrowed by ?kind=) and the new-tool form.
func (s *Server) listTools(c echo.Context) error {
	return s.renderTools(c, http.StatusOK, admin.ToolList{Kind: c.QueryParam("kind")}, admin.NewToolForm())
}

// renderTools renders a tool's edit page when f is one's form, else the
// registry's page (for htmx its table), l carrying the filter and the
// outcome to tell.
func (s *Server) renderTools(c echo.Context, status int, l admin.ToolList, f admin.ToolForm) error {
	ctx := c.Request().Context()
	tabs := adminTabs(auth.FromContext(ctx), paths.Tools)
	if f.ID != "" {
		lp := s.layoutProps(c, "tools.edit_title", "nav.admin")
		lp.Title = f.Name + " · " + lp.Title
		return s.render(c, status, admin.ToolEditPage(lp, tabs, f), nil)
	}
	l, err := s.tools().List(ctx, l)
	if err != nil {
		return err
	}
	if isPartial(c.Request()) {
		return s.render(c, status, admin.ToolsTable(l), nil)
	}
	lp := s.layoutProps(c, "tools.title", "nav.admin")
	return s.render(c, status, admin.ToolsPage(lp, tabs, l, f), admin.ToolsTable(l))
}

// saveTool creates a tool (no :id) or saves one's edit form; a refused
// form comes back with its status (422 invalid, 409 stale), input kept.
func (s *Server) saveTool(c echo.Context) error {
	var in tools.Input
	if err := (&echo.DefaultBinder{}).BindBody(c, &in); err != nil {
		return echo.ErrBadRequest
	}
	id := uuid.Nil
	if c.Param("id") != "" {
		var err error
		if id, err = paramID(c); err != nil {
			return err
		}
	}
	f, err := s.tools().Save(c.Request().Context(), id, in)
	if f.Errors != nil || f.Saved != nil {
		return s.renderTools(c, statusOf(err), admin.ToolList{}, f)
	}
	return s.afterToolChange(c, "tools.saved", err)
}

// editTool renders a tool's edit form.
func (s *Server) editTool(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	f, err := s.tools().Form(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderTools(c, http.StatusOK, admin.ToolList{}, f)
}

// toolAction answers a row's button (deactivate, reactivate, delete,
// restore) by calling its workflow. A restore onto a name taken meanwhile
// is refused with 409 on the registry, naming the tool that took it.
func (s *Server) toolAction(key string, do func(*tools.Service, context.Context, uuid.UUID) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := paramID(c)
		if err != nil {
			return err
		}
		err = do(s.tools(), c.Request().Context(), id)
		// The registry naming the clash is shown to those who may open
		// it; a keeper of the trash alone gets the conflict's error page,
		// as any other restore refused from the trash.
		if clash := tools.Clash(err); clash != "" && auth.FromContext(c.Request().Context()).Can(auth.SettingsManage) {
			return s.renderTools(c, statusOf(err), admin.ToolList{ErrorKey: "tools.restore_name_taken", ErrorName: clash}, admin.NewToolForm())
		}
		return s.afterToolChange(c, key, err)
	}
}

// afterToolChange answers a change: the table again for htmx, else a
// flash and the registry (the trash for a keeper of the trash who may not
// open the registry).
func (s *Server) afterToolChange(c echo.Context, key string, err error) error {
	if err != nil {
		return err
	}
	if isPartial(c.Request()) {
		return s.renderTools(c, http.StatusOK, admin.ToolList{NoticeKey: key}, admin.ToolForm{})
	}
	s.flash(c, "success", key)
	if !auth.FromContext(c.Request().Context()).Can(auth.SettingsManage) {
		return c.Redirect(http.StatusSeeOther, paths.Trash)
	}
	return c.Redirect(http.StatusSeeOther, paths.Tools)
}
