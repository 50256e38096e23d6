package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/app"
	"violet/internal/library"
	"violet/internal/paths"
	"violet/views/components"
	libraryviews "violet/views/library"
)

// The test template pages. The list, the page and the form's stored
// values are read models of internal/library; every change is one of its
// workflows (read.go, templates.go there).

// templateBulkMax is the most templates one bulk action takes: a page
// holds 50, so more is not a selection a person made.
const templateBulkMax = 500

// templateFormBody is what the template form may set: no source, no
// external reference, no owner (those come from imports and the server).
type templateFormBody struct {
	Name              string   `form:"name"`
	Description       string   `form:"description"`
	Objective         string   `form:"objective"`
	Procedure         string   `form:"procedure"`
	Prerequisites     string   `form:"prerequisites"`
	Cleanup           string   `form:"cleanup"`
	ExpectedDetection string   `form:"expected_detection"`
	Platforms         []string `form:"platforms"`
	Opsec             string   `form:"opsec_level"`
	Labels            string   `form:"labels"`
	Tags              []string `form:"tags"`
	Rules             []string `form:"rules"`
	ExpectedTools     []string `form:"expected_tool"`
	ExpectedNames     []string `form:"expected_name"`
	Version           string   `form:"version"`
}

// templateBulkBody is what the bulk form sends: the ticked templates in the
// order shown, the scenario to add them to, and the list to go back to.
type templateBulkBody struct {
	IDs      []string `form:"id"`
	Scenario string   `form:"scenario"`
	Back     string   `form:"back"`
}

// templatePreviewBody is what a preview button sends: which field, and
// its text under its own name.
type templatePreviewBody struct {
	Field             string `form:"field"`
	Description       string `form:"description"`
	Objective         string `form:"objective"`
	Procedure         string `form:"procedure"`
	Prerequisites     string `form:"prerequisites"`
	Cleanup           string `form:"cleanup"`
	ExpectedDetection string `form:"expected_detection"`
}

// showLibrary sends the library's home to its first section.
func (s *Server) showLibrary(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, paths.Templates)
}

// listTemplates renders the test template list, filtered and paged
// (library.ListTemplates). htmx requests get only the results.
func (s *Server) listTemplates(c echo.Context) error {
	return s.renderTemplateList(c, http.StatusOK, library.TemplateFilterOf(c.QueryParams()), templateBulkBody{}, "")
}

// renderTemplateList renders the list for f with status, and a notice
// (why a bulk action was refused) when noticeKey is not "", keeping that
// bulk form's selection and scenario.
func (s *Server) renderTemplateList(c echo.Context, status int, f libraryviews.TemplateFilter, bulk templateBulkBody, noticeKey string) error {
	partial := isPartial(c.Request())
	l, err := library.ListTemplates(c.Request().Context(), s.Ent, f, !partial)
	if err != nil {
		return err
	}
	l.NoticeKey, l.Scenario = noticeKey, bulk.Scenario
	for _, id := range bulk.IDs {
		l.Selected[id] = true
	}
	fragment := libraryviews.TemplateResults(l)
	if partial {
		// The address bar gets the filter's canonical URL rather than the
		// form's every empty field. No page frame, so no layoutProps:
		// pending flash messages stay for the next page.
		c.Response().Header().Set("HX-Push-Url", l.Filter.URL(l.Filter.Page))
		return s.render(c, status, fragment, nil)
	}
	title := "library.templates.title"
	if f.Deleted {
		title = "library.templates.trash_title"
	}
	lp := s.layoutProps(c, title, "nav.library")
	return s.render(c, status, libraryviews.TemplatesPage(lp, l), fragment)
}

// showTemplate renders a test template's page with the scenarios that use
// it (library.TemplateDetail: deleted ones for trash.manage only).
func (s *Server) showTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	d, err := library.TemplateDetail(c.Request().Context(), s.Ent, id)
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "library.templates.template_title", "nav.library")
	lp.Title = d.Name + " · " + lp.Title
	return s.render(c, http.StatusOK, libraryviews.TemplatePage(lp, d), nil)
}

// newTemplate renders the empty template form; ?rules_q= searches its
// rules picker (htmx gets only the picker's results).
func (s *Server) newTemplate(c echo.Context) error {
	f, err := library.NewTemplateForm(c.Request().Context(), s.Ent, c.QueryParam("rules_q"), c.QueryParams()["rules"])
	if err != nil {
		return err
	}
	return s.renderTemplateForm(c, http.StatusOK, f)
}

// renderTemplateForm renders the create or edit form with status (422
// with errors, 409 with the stored state).
func (s *Server) renderTemplateForm(c echo.Context, status int, f libraryviews.TemplateForm) error {
	title := "library.templates.new_title"
	if f.ID != "" {
		title = "library.templates.edit_title"
	}
	lp := s.layoutProps(c, title, "nav.library")
	return s.render(c, status, libraryviews.TemplateFormPage(lp, f), libraryviews.TemplateRuleResults(f))
}

// editTemplate renders the form of an existing template with its stored
// values, tags, rules and version; ?rules_q= searches its rules picker
// (htmx gets only the picker's results).
func (s *Server) editTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	f, err := library.TemplateFormFor(c.Request().Context(), s.Ent, id, c.QueryParam("rules_q"), c.QueryParams()["rules"])
	if err != nil {
		return err
	}
	return s.renderTemplateForm(c, http.StatusOK, f)
}

// bindTemplate binds the template form. The version is read for an edit
// only; one that is not a number is 0, which the workflow refuses
// (library.ErrNoVersion) once it has found the template.
func bindTemplate(c echo.Context) (library.TemplateInput, error) {
	var b templateFormBody
	if err := (&echo.DefaultBinder{}).BindBody(c, &b); err != nil {
		return library.TemplateInput{}, echo.ErrBadRequest
	}
	version, _ := strconv.Atoi(strings.TrimSpace(b.Version))
	return library.TemplateInput{
		Name: b.Name, Description: b.Description, Objective: b.Objective, Procedure: b.Procedure,
		Prerequisites: b.Prerequisites, Cleanup: b.Cleanup, ExpectedDetection: b.ExpectedDetection,
		Platforms: b.Platforms, Opsec: b.Opsec, Labels: b.Labels, Tags: b.Tags, Rules: b.Rules, Version: version,
		ExpectedTools: b.ExpectedTools, ExpectedNames: b.ExpectedNames,
	}, nil
}

// renderTemplateSave answers a refused save: the form again with the input
// kept, 422 with the errors by field, 409 with the stored state. ok is
// false for any other outcome.
func (s *Server) renderTemplateSave(c echo.Context, res library.TemplateSave, err error) (bool, error) {
	var invalid *app.Invalid
	switch {
	case errors.As(err, &invalid):
		res.Form.Errors = components.Errors(invalid.Fields)
		return true, s.renderTemplateForm(c, http.StatusUnprocessableEntity, res.Form)
	case errors.Is(err, app.ErrConflict):
		return true, s.renderTemplateForm(c, http.StatusConflict, res.Form)
	case errors.Is(err, library.ErrNoVersion):
		return true, echo.ErrBadRequest
	}
	return false, err
}

// createTemplate creates a manual test template with its tags and opens
// its page.
func (s *Server) createTemplate(c echo.Context) error {
	in, err := bindTemplate(c)
	if err != nil {
		return err
	}
	res, err := library.CreateTemplate(c.Request().Context(), s.Ent, in)
	if done, err := s.renderTemplateSave(c, res, err); done || err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.created")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Template, res.ID))
}

// updateTemplate saves a template and its tags if it is still at the
// version the form showed; otherwise it answers 409 with the form as the
// user typed it and the values stored now, so nothing is overwritten
// unseen.
func (s *Server) updateTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	in, err := bindTemplate(c)
	if err != nil {
		return err
	}
	res, err := library.UpdateTemplate(c.Request().Context(), s.Ent, id, in)
	if done, err := s.renderTemplateSave(c, res, err); done || err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.saved")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Template, id))
}

// previewTemplateText renders one markdown field as its page would show
// it, for the form's preview buttons.
func (s *Server) previewTemplateText(c echo.Context) error {
	var b templatePreviewBody
	if err := (&echo.DefaultBinder{}).BindBody(c, &b); err != nil {
		return echo.ErrBadRequest
	}
	if !slices.Contains(libraryviews.TemplateTextFields(), b.Field) {
		return echo.ErrBadRequest
	}
	f := libraryviews.TemplateForm{Description: b.Description, Objective: b.Objective, Procedure: b.Procedure,
		Prerequisites: b.Prerequisites, Cleanup: b.Cleanup, ExpectedDetection: b.ExpectedDetection}
	src := cutRunes(strings.TrimSpace(f.Text(b.Field)), libraryviews.TemplateTextMax)
	return s.render(c, http.StatusOK, libraryviews.TemplatePreview(b.Field, src, true), nil)
}

// duplicateTemplate copies a template with its tags and opens the copy.
func (s *Server) duplicateTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	copyID, err := library.DuplicateTemplate(c.Request().Context(), s.Ent, id)
	if err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.duplicated")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Template, copyID))
}

// deleteTemplate moves a template to the trash.
func (s *Server) deleteTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := library.DeleteTemplate(c.Request().Context(), s.Ent, id); err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.deleted_done")
	return c.Redirect(http.StatusSeeOther, paths.Templates)
}

// restoreTemplate takes a template out of the trash.
func (s *Server) restoreTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := library.RestoreTemplate(c.Request().Context(), s.Ent, id); err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.restored_done")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Template, id))
}

// bindTemplateBulk binds the bulk form: the ticked ids in order (repeats
// dropped) and the list to return to. A selection that is not ids is a
// bad request; an empty one is the user's mistake, told on the list.
func bindTemplateBulk(c echo.Context) (templateBulkBody, []uuid.UUID, libraryviews.TemplateFilter, error) {
	var b templateBulkBody
	if err := (&echo.DefaultBinder{}).BindBody(c, &b); err != nil {
		return b, nil, libraryviews.TemplateFilter{}, echo.ErrBadRequest
	}
	if len(b.IDs) > templateBulkMax {
		return b, nil, libraryviews.TemplateFilter{}, echo.ErrBadRequest
	}
	ids := make([]uuid.UUID, 0, len(b.IDs))
	for _, raw := range b.IDs {
		id, err := uuid.Parse(raw)
		if err != nil {
			return b, nil, libraryviews.TemplateFilter{}, echo.ErrBadRequest
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var f libraryviews.TemplateFilter
	if u, err := url.Parse(b.Back); err == nil && u.Path == paths.Templates && u.Host == "" && u.Scheme == "" {
		f = library.TemplateFilterOf(u.Query())
	} else {
		f = library.TemplateFilterOf(url.Values{})
	}
	f.Deleted = false
	return b, ids, f, nil
}

// bulkRefused renders the list with the notice of a refused bulk action
// (422), keeping the selection; ok is false for any other outcome.
func (s *Server) bulkRefused(c echo.Context, b templateBulkBody, f libraryviews.TemplateFilter, err error) (bool, error) {
	var invalid *app.Invalid
	if errors.As(err, &invalid) {
		return true, s.renderTemplateList(c, http.StatusUnprocessableEntity, f, b, invalid.Key)
	}
	return false, err
}

// addTemplatesToScenario appends the ticked templates to a scenario, in
// the order the list showed them, and opens the scenario.
func (s *Server) addTemplatesToScenario(c echo.Context) error {
	b, ids, f, err := bindTemplateBulk(c)
	if err != nil {
		return err
	}
	scID, perr := uuid.Parse(b.Scenario)
	if perr != nil {
		scID = uuid.Nil // no scenario chosen: the workflow says so
	}
	err = library.AddTemplatesToScenario(c.Request().Context(), s.Ent, scID, ids)
	if done, err := s.bulkRefused(c, b, f, err); done || err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.bulk_added")
	return c.Redirect(http.StatusSeeOther, paths.URL(paths.Scenario, scID))
}

// deleteTemplates moves the ticked templates to the trash in one
// transaction.
func (s *Server) deleteTemplates(c echo.Context) error {
	b, ids, f, err := bindTemplateBulk(c)
	if err != nil {
		return err
	}
	err = library.DeleteTemplates(c.Request().Context(), s.Ent, ids)
	if done, err := s.bulkRefused(c, b, f, err); done || err != nil {
		return err
	}
	s.flash(c, "success", "library.templates.bulk_deleted")
	return c.Redirect(http.StatusSeeOther, f.URL(f.Page))
}
