package export

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/mission"
	"violet/internal/missionread"
)

// csvHeader names the CSV columns: stable field names (not translated) so
// that spreadsheets and scripts can rely on them.
func csvHeader() []string {
	return []string{
		"number", "id", "scenario", "category", "name", "description", "objective", "procedure",
		"prerequisites", "cleanup", "expected_detection", "platforms", "opsec_level", "tags",
		"state", "state_reason", "released_to_blue",
		"executed_by", "started_at", "ended_at", "command", "source_host", "target_host", "red_notes",
		"detection_level", "detection_score", "counts_as_detected", "detected_at", "alert_name", "log_source", "blue_notes",
		"reviewed_by", "reviewed_at", "created_at", "updated_at", "outcomes",
	}
}

// csvOutcomes is the "outcomes" column (issue 20): one cell whatever the
// scope, so the columns stay the same from one mission to the next,
// "Tool: Level; …" with the tools by name and the outcome without a tool
// last as "none: Level" (mission.NoTool); an outcome without a level is
// the tool's name alone. The JSON export carries every field of each
// outcome.
func csvOutcomes(os []missionread.Outcome) string {
	parts := make([]string, 0, len(os))
	for _, o := range os {
		tool := o.Tool
		if o.ToolID == nil {
			tool = mission.NoTool
		}
		if o.Level != "" {
			tool += ": " + o.Level
		}
		parts = append(parts, tool)
	}
	return strings.Join(parts, "; ")
}

// csvCell neutralises a cell a spreadsheet would run as a formula: one
// starting with =, +, -, @, a tab or a carriage return gets a leading '.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// CSVCell is s as every CSV of Violet writes a cell: neutralised against
// formula injection (csvCell) and with its line breaks as LF
// (csvLineBreaks). The insights' CSV uses it too, so the rule is one.
func CSVCell(s string) string { return csvLineBreaks.Replace(csvCell(s)) }

// csvLineBreaks writes every line break inside a cell as LF: the writer
// ends records with CRLF (RFC 4180) and would drop a lone CR, and readers
// give back CRLF inside a quoted cell as LF anyway.
var csvLineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// csvRow is one test's row, in csvHeader's order.
func csvRow(t *missionread.Test, outcomes []missionread.Outcome) []string {
	name := func(p *missionread.Person) string {
		if p == nil {
			return ""
		}
		return p.Name
	}
	var scenario, category, level, score, detected string
	if t.Scenario != nil {
		scenario = t.Scenario.Name
	}
	if t.Category != nil {
		category = t.Category.Name
	}
	if l := t.Level; l != nil {
		level, score, detected = l.Name, strconv.Itoa(l.Score), strconv.FormatBool(l.CountsAsDetected)
	}
	tags := make([]string, 0, len(t.Tags))
	for _, g := range t.Tags {
		tags = append(tags, g.ExternalID+" "+g.Name) // "T1059.001 PowerShell"
	}
	return []string{
		strconv.Itoa(t.Number), t.ID.String(), scenario, category, t.Name, t.Description, t.Objective, t.Procedure,
		t.Prerequisites, t.Cleanup, t.ExpectedDetection, strings.Join(t.Platforms, "; "), string(t.OpsecLevel),
		strings.Join(tags, "; "),
		string(t.State), t.StateReason, strconv.FormatBool(t.ReleasedToBlue),
		name(t.ExecutedBy), stamp(t.StartedAt), stamp(t.EndedAt), t.Command, t.SourceHost, t.TargetHost, t.RedNotes,
		level, score, detected, stamp(t.DetectedAt), t.AlertName, t.LogSource, t.BlueNotes,
		name(t.ReviewedBy), stamp(t.ReviewedAt), stamp(&t.CreatedAt), stamp(&t.UpdatedAt), csvOutcomes(outcomes),
	}
}

// TestsCSV writes one row per test the viewer sees, every red and blue
// field (RFC 4180 through encoding/csv, UTF-8 without a byte order mark,
// CRLF between records and LF for line breaks inside cells, a header row),
// read in two statements (the tests, their outcomes). No byte order mark: scripts would find the mark
// glued to the first column's name; TestsCSVForExcel is the variant for
// spreadsheets.
func TestsCSV(ctx context.Context, client *ent.Client, a *mission.Access) (File, error) {
	return testsCSV(ctx, client, a, false)
}

// utf8BOM is the UTF-8 byte order mark.
const utf8BOM = "\uFEFF"

// TestsCSVForExcel is TestsCSV for spreadsheets: the same records (CRLF
// between them) after a UTF-8 byte order mark, without which Excel reads
// a double-clicked CSV in the system's legacy code page and garbles every
// accent. Its name ends in "-tests-excel.csv".
func TestsCSVForExcel(ctx context.Context, client *ent.Client, a *mission.Access) (File, error) {
	return testsCSV(ctx, client, a, true)
}

func testsCSV(ctx context.Context, client *ent.Client, a *mission.Access, excel bool) (File, error) {
	listed, err := missionread.Tests(ctx, client, a, missionread.Everything, missionread.Filter{})
	if err != nil {
		return File{}, err
	}
	outcomes, err := missionread.Outcomes(ctx, client, a.Mission.ID)
	if err != nil {
		return File{}, err
	}
	write := func(w io.Writer) error {
		if excel {
			if _, err := io.WriteString(w, utf8BOM); err != nil {
				return err
			}
		}
		return writeCSVWith(w, listed.Tests, outcomes)
	}
	if !excel {
		return newStream("text/csv; charset=utf-8", a.Mission.Name, "tests.csv", write), nil
	}
	return newStream("text/csv; charset=utf-8", a.Mission.Name, "tests-excel.csv", write), nil
}

// writeCSV writes the header and one record per test to out, a record at
// a time (encoding/csv buffers a few kilobytes).
func writeCSV(out io.Writer, tests []missionread.Test) error {
	return writeCSVWith(out, tests, nil)
}

// writeCSVWith is writeCSV with each test's outcomes (by test id).
func writeCSVWith(out io.Writer, tests []missionread.Test, outcomes map[uuid.UUID][]missionread.Outcome) error {
	w := csv.NewWriter(out)
	w.UseCRLF = true
	if err := w.Write(csvHeader()); err != nil {
		return err
	}
	for i := range tests {
		row := csvRow(&tests[i], outcomes[tests[i].ID])
		for j := range row {
			row[j] = CSVCell(row[j])
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
