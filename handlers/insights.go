package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"violet/internal/insights"
	insightviews "violet/views/insights"
)

// showInsights renders the trends across missions (internal/insights,
// which checks insights.read again before reading every mission).
func (s *Server) showInsights(c echo.Context) error {
	p, err := insights.Load(c.Request().Context(), s.DB, insights.FilterOf(c.QueryParams()))
	if err != nil {
		return err
	}
	lp := s.layoutProps(c, "insights.title", "nav.insights")
	return s.render(c, http.StatusOK, insightviews.InsightsPage(lp, p), insightviews.Insights(p))
}

// exportInsightsCSV sends one chart's data (?chart=tactics|tools|coverage)
// with the page's filter.
func (s *Server) exportInsightsCSV(c echo.Context) error {
	f, err := insights.CSV(c.Request().Context(), s.DB, insights.FilterOf(c.QueryParams()), c.QueryParam("chart"))
	return s.sendExport(c, f, err)
}

// exportInsightsLayer sends the coverage as an ATT&CK Navigator layer.
func (s *Server) exportInsightsLayer(c echo.Context) error {
	f, err := insights.Layer(c.Request().Context(), s.DB, insights.FilterOf(c.QueryParams()), s.Now())
	return s.sendExport(c, f, err)
}
