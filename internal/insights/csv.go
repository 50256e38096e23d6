package insights

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"strconv"

	"violet/internal/app"
	"violet/internal/export"
	"violet/views/insights"
)

// CSV is one chart's data (chart: insights.ChartTactics, ChartTools or
// ChartCoverage) with the filter f, as the page counts it: one row per
// mission and series with tests (a rate per mission), or per technique
// and tactic. Columns are stable field names, not translated, as the
// mission's CSV export names them; every text cell is neutralised
// against formula injection (export.CSVCell). An unknown chart is invalid (422).
func CSV(ctx context.Context, db *sql.DB, f insights.Filter, chart string) (export.File, error) {
	if chart != insights.ChartTactics && chart != insights.ChartTools && chart != insights.ChartCoverage {
		return export.File{}, fmt.Errorf("%w: no chart %q", app.ErrInvalid, chart)
	}
	d, err := Read(ctx, db, f)
	if err != nil {
		return export.File{}, err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	write := func(cells ...string) {
		for i := range cells {
			cells[i] = export.CSVCell(cells[i])
		}
		_ = w.Write(cells) // a bytes.Buffer does not fail; Flush reports the rest
	}
	switch chart {
	case insights.ChartTactics, insights.ChartTools:
		kind, figs, tie := "tactic", d.Tactics, byKey
		if chart == insights.ChartTools {
			kind, figs, tie = "tool", d.Tools, byName
		}
		write("mission_id", "mission", "date", "date_is_end_date", kind+"_id", kind, "tests", "detected", "rate_percent")
		all := collect(figs, tie)
		for _, m := range d.Missions {
			for _, s := range all {
				fg, ok := s.per[m.ID]
				if !ok || fg.Tests == 0 {
					continue
				}
				write(m.ID, m.Name, m.DayText(), strconv.FormatBool(m.Ended), s.key, s.name,
					strconv.Itoa(fg.Tests), strconv.Itoa(fg.Detected), strconv.Itoa(rate(fg.Detected, fg.Tests)))
			}
		}
	case insights.ChartCoverage:
		write("tactic_id", "tactic", "technique_id", "technique", "level", "counts_as_detected",
			"mission_id", "mission", "date", "date_is_end_date")
		for _, g := range group(d.Coverage) {
			for _, t := range g.Techniques {
				write(g.ID, g.Name, t.ID, t.Name, t.Level, strconv.FormatBool(t.Detected),
					t.Mission.ID, t.Mission.Name, t.Mission.DayText(), strconv.FormatBool(t.Mission.Ended))
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return export.File{}, err
	}
	name := "violet-insights-" + chart + ".csv"
	return export.File{ContentType: "text/csv; charset=utf-8", Name: name, Data: b.Bytes()}, nil
}
