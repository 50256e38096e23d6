package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/attack"
	attackviews "violet/views/attack"
)

// The ATT&CK pages read the catalogue through its read model
// (attack.Catalogue): the handlers parse the query and render.

// showAttackMatrix renders the matrix, filtered by ?platform= and without
// retired entries unless ?retired=1, coloured by ?overlay=library or
// ?overlay=mission&mission=<id> (a mission the viewer may not read is a
// 404). htmx requests get only the matrix.
func (s *Server) showAttackMatrix(c echo.Context) error {
	m, err := attack.NewCatalogue(s.Ent).Matrix(c.Request().Context(), attackviews.MatrixFilter{
		Platform: c.QueryParam("platform"),
		Retired:  c.QueryParam("retired") == "1",
		Overlay:  c.QueryParam("overlay"),
		Mission:  c.QueryParam("mission"),
	})
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "attack.title", "nav.attack")
	return s.render(c, http.StatusOK, attackviews.MatrixPage(lp, m), attackviews.MatrixView(m))
}

// searchAttack answers ?q=: htmx requests (the search box as you type)
// get only the results; the same URL without htmx is the search page.
func (s *Server) searchAttack(c echo.Context) error {
	res, err := attack.NewCatalogue(s.Ent).Search(c.Request().Context(), c.QueryParam("q"))
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "attack.search.title", "nav.attack")
	return s.render(c, http.StatusOK, attackviews.SearchPage(lp, res), attackviews.SearchResults(res))
}

// searchAttackPicker answers a picker's search (?name= the picker's field,
// which also carries the entries it already holds). It only ever returns
// the rows: the picker is part of another page.
func (s *Server) searchAttackPicker(c echo.Context) error {
	name := c.QueryParam("name")
	if !attackviews.ValidPickerName(name) {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid picker name")
	}
	picked, err := attackviews.ParsePicked(c.QueryParams()[name])
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	r, err := attack.NewCatalogue(s.Ent).Pick(c.Request().Context(), name, c.QueryParam("q"), picked)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, attackviews.PickerResults(r), nil)
}

// showAttackEntry renders one tactic, technique or sub-technique by its
// ATT&CK ID (any case); unknown IDs are 404.
func (s *Server) showAttackEntry(c echo.Context) error {
	d, err := attack.NewCatalogue(s.Ent).Detail(c.Request().Context(), c.Param("external_id"))
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "attack.title", "nav.attack")
	lp.Title = d.ExternalID + " " + d.Name
	return s.render(c, http.StatusOK, attackviews.DetailPage(lp, d), nil)
}
