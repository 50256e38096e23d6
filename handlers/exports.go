package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/detectionlevel"
	"violet/ent/evidencefile"
	"violet/ent/missioncategory"
	"violet/ent/missionmember"
	"violet/ent/missionscenario"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretechnique"
	"violet/ent/predicate"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/ent/user"
	"violet/internal/attackid"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/mission"
	"violet/internal/navigator"
	"violet/views/components"
	"violet/views/missionpage"
)

// Exports read the mission through the request's context: the privacy
// policies give blue members the released tests only, exactly as on the
// overview, and every field of a test the viewer sees (as on its page).

// missionExportFormat and missionExportVersion name the JSON archive's
// format; the version changes when a field changes meaning.
const (
	missionExportFormat  = "violet-mission"
	missionExportVersion = 1
)

// exportTests reads the tests of the mission the viewer may see, in plan
// order, with their tags, scenario, category, level and people (seven
// queries whatever the number of tests).
func (s *Server) exportTests(ctx context.Context, missionID uuid.UUID) ([]*ent.MissionTest, error) {
	people := func(q *ent.UserQuery) { q.Select(user.FieldDisplayName, user.FieldEmail) }
	tests, err := s.Ent.MissionTest.Query().
		Where(missiontest.MissionID(missionID)).
		Order(ent.Asc(missiontest.FieldPosition), ent.Asc(missiontest.FieldID)).
		WithMitreTags(func(q *ent.MissionTestMitreTagQuery) {
			q.Order(ent.Asc(missiontestmitretag.FieldExternalID), ent.Asc(missiontestmitretag.FieldID))
		}).
		WithScenario().WithCategory().WithDetectionLevel().
		WithExecutedBy(people).WithReviewedBy(people).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the mission's tests: %w", err)
	}
	return tests, nil
}

// exportFilename makes a download name from the mission's name: ASCII
// letters, digits, dots and dashes only (quotes, slashes and control
// characters can never reach the header), at most 80 characters.
func exportFilename(name, suffix string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if b.Len() >= 80 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.' || r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	base := strings.Trim(b.String(), "-.")
	if base == "" {
		base = "mission"
	}
	return base + "-" + suffix
}

// exportUnicodeFilename keeps the letters and digits of every script, for
// the filename* parameter browsers prefer (RFC 6266); "" when it says
// nothing the ASCII name does not.
func exportUnicodeFilename(name, suffix, ascii string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if utf8.RuneCountInString(b.String()) >= 80 {
			break
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	full := strings.Trim(b.String(), "-.") + "-" + suffix
	if full == ascii || strings.HasPrefix(full, "-") {
		return ""
	}
	return full
}

// sendExport sends data as a download named after the mission.
func sendExport(c echo.Context, contentType, missionName, suffix string, data []byte) error {
	filename := exportFilename(missionName, suffix)
	value := `attachment; filename="` + filename + `"`
	if u := exportUnicodeFilename(missionName, suffix, filename); u != "" {
		value += "; filename*=UTF-8''" + url.PathEscape(u)
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, value)
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, contentType, data)
}

// exportTime formats an instant in UTC, or "" for none.
func exportTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// exportTagLabel is "T1059.001 PowerShell".
func exportTagLabel(g *ent.MissionTestMitreTag) string { return g.ExternalID + " " + g.Name }

// exportNavigator sends the mission as an ATT&CK Navigator layer (format
// 4.5), scored by internal/navigator's rule.
func (s *Server) exportNavigator(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tests, err := s.exportTests(ctx, a.Mission.ID)
	if err != nil {
		return err
	}
	levels, err := s.Ent.DetectionLevel.Query().Order(detectionlevel.ByPosition(), detectionlevel.ByName()).All(ctx)
	if err != nil {
		return fmt.Errorf("load the detection scale: %w", err)
	}
	version := ""
	last, err := s.Ent.AttackSync.Query().Where(attacksync.StatusEQ(attacksync.StatusSucceeded)).
		Order(ent.Desc(attacksync.FieldFinishedAt), ent.Desc(attacksync.FieldCreatedAt)).First(ctx)
	switch {
	case err == nil:
		version = last.AttackVersion
	case !ent.IsNotFound(err):
		return fmt.Errorf("load the catalogue version: %w", err)
	}
	in := navigator.Input{
		Name: a.Mission.Name, Description: a.Mission.Description, AttackVersion: version, Now: s.Now(),
		Labels: navigator.Labels{
			Rule:     i18n.T(ctx, "exports.navigator.rule"),
			State:    func(state string) string { return i18n.T(ctx, "missions.page.state_"+state) },
			NoLevel:  i18n.T(ctx, "exports.navigator.no_level"),
			Mission:  i18n.T(ctx, "exports.navigator.mission"),
			Exported: i18n.T(ctx, "exports.navigator.exported"),
			Catalog:  i18n.T(ctx, "exports.navigator.catalogue"),
			Tests:    i18n.T(ctx, "exports.navigator.scored_tests"),
		},
	}
	for _, l := range levels {
		in.Levels = append(in.Levels, navigator.Level{ID: l.ID, Name: l.Name, Score: l.Score, Colour: l.Colour,
			Position: l.Position, Retired: l.Retired})
	}
	for _, t := range tests {
		nt := navigator.Test{Name: t.Name, State: string(t.State), LevelID: t.DetectionLevelID}
		for _, g := range t.Edges.MitreTags {
			tag := navigator.Tag{Kind: string(g.Kind), ExternalID: g.ExternalID}
			for _, tac := range g.Tactics {
				tag.Tactics = append(tag.Tactics, navigator.Tactic{ID: tac["id"], Shortname: tac["shortname"]})
			}
			nt.Tags = append(nt.Tags, tag)
		}
		in.Tests = append(in.Tests, nt)
	}
	data, err := json.MarshalIndent(navigator.Build(in), "", "  ")
	if err != nil {
		return err
	}
	return sendExport(c, "application/json; charset=utf-8", a.Mission.Name, "navigator.json", data)
}

// csvHeader names the CSV columns: stable field names (not translated) so
// that spreadsheets and scripts can rely on them.
var csvHeader = []string{
	"number", "id", "scenario", "category", "name", "description", "objective", "procedure",
	"prerequisites", "cleanup", "expected_detection", "platforms", "opsec_level", "tags",
	"state", "state_reason", "released_to_blue",
	"executed_by", "started_at", "ended_at", "command", "source_host", "target_host", "red_notes",
	"detection_level", "detection_score", "counts_as_detected", "detected_at", "alert_name", "log_source", "blue_notes",
	"reviewed_by", "reviewed_at", "created_at", "updated_at",
}

// csvCell neutralises a cell a spreadsheet would run as a formula: one
// starting with =, +, -, @, a tab or a carriage return gets a leading '.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvLineBreaks writes every line break inside a cell as LF: the writer
// ends records with CRLF (RFC 4180) and would drop a lone CR, and readers
// give back CRLF inside a quoted cell as LF anyway.
var csvLineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// csvRow is one test's row, in csvHeader's order.
func csvRow(n int, t *ent.MissionTest) []string {
	name := func(u *ent.User) string {
		if u == nil {
			return ""
		}
		return u.DisplayName
	}
	var scenario, category, level, score, detected string
	if sc := t.Edges.Scenario; sc != nil {
		scenario = sc.Name
	}
	if cat := t.Edges.Category; cat != nil {
		category = cat.Name
	}
	if l := t.Edges.DetectionLevel; l != nil {
		level, score, detected = l.Name, strconv.Itoa(l.Score), strconv.FormatBool(l.CountsAsDetected)
	}
	tags := make([]string, 0, len(t.Edges.MitreTags))
	for _, g := range t.Edges.MitreTags {
		tags = append(tags, exportTagLabel(g))
	}
	return []string{
		strconv.Itoa(n), t.ID.String(), scenario, category, t.Name, t.Description, t.Objective, t.Procedure,
		t.Prerequisites, t.Cleanup, t.ExpectedDetection, strings.Join(t.Platforms, "; "), string(t.OpsecLevel),
		strings.Join(tags, "; "),
		string(t.State), t.StateReason, strconv.FormatBool(t.ReleasedToBlue),
		name(t.Edges.ExecutedBy), exportTime(t.StartedAt), exportTime(t.EndedAt), t.Command, t.SourceHost, t.TargetHost, t.RedNotes,
		level, score, detected, exportTime(t.DetectedAt), t.AlertName, t.LogSource, t.BlueNotes,
		name(t.Edges.ReviewedBy), exportTime(t.ReviewedAt), exportTime(&t.CreatedAt), exportTime(&t.UpdatedAt),
	}
}

// exportTestsCSV sends one row per test the viewer sees, every red and
// blue field (RFC 4180 through encoding/csv, UTF-8 without a byte order
// mark, CRLF between records and LF for line breaks inside cells, a
// header row). No byte order mark: spreadsheets that need one to read
// UTF-8 can import the file with its encoding named, and scripts would
// find the mark glued to the first column's name.
func (s *Server) exportTestsCSV(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	tests, err := s.exportTests(c.Request().Context(), a.Mission.ID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.Write(csvHeader); err != nil {
		return err
	}
	for i, t := range tests {
		row := csvRow(i+1, t)
		for j := range row {
			row[j] = csvLineBreaks.Replace(csvCell(row[j]))
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return sendExport(c, "text/csv; charset=utf-8", a.Mission.Name, "tests.csv", buf.Bytes())
}

// The JSON archive. Struct field order is the key order; instants are
// RFC 3339 in UTC, calendar dates (the mission's start and end) RFC 3339
// full-dates; absent values are null.
type (
	missionExport struct {
		Format          string                `json:"format"`
		Version         int                   `json:"version"`
		ExportedAt      string                `json:"exported_at"`
		ReleasedOnly    bool                  `json:"released_only"`
		Mission         missionExportMission  `json:"mission"`
		Members         []missionExportMember `json:"members"`
		Categories      []missionExportGroup  `json:"categories"`
		Scenarios       []missionExportGroup  `json:"scenarios"`
		DetectionLevels []missionExportLevel  `json:"detection_levels"`
		Tests           []missionExportTest   `json:"tests"`
	}
	missionExportMission struct {
		ID          string  `json:"id"`
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Scope       string  `json:"scope"`
		Status      string  `json:"status"`
		StartDate   *string `json:"start_date"`
		EndDate     *string `json:"end_date"`
		CreatedAt   string  `json:"created_at"`
		UpdatedAt   string  `json:"updated_at"`
	}
	missionExportPerson struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	missionExportMember struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	missionExportGroup struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Colour      string `json:"colour,omitempty"`
		Position    int    `json:"position"`
	}
	missionExportLevel struct {
		ID               string `json:"id"`
		Name             string `json:"name"`
		Score            int    `json:"score"`
		Colour           string `json:"colour"`
		CountsAsDetected bool   `json:"counts_as_detected"`
		Position         int    `json:"position"`
		Retired          bool   `json:"retired"`
	}
	missionExportTag struct {
		Kind       string              `json:"kind"`
		ExternalID string              `json:"external_id"`
		Name       string              `json:"name"`
		URL        string              `json:"url"`
		Tactics    []map[string]string `json:"tactics"`
	}
	missionExportRed struct {
		ExecutedBy *missionExportPerson `json:"executed_by"`
		StartedAt  *string              `json:"started_at"`
		EndedAt    *string              `json:"ended_at"`
		Command    string               `json:"command"`
		SourceHost string               `json:"source_host"`
		TargetHost string               `json:"target_host"`
		Notes      string               `json:"notes"`
	}
	missionExportBlue struct {
		DetectionLevel *missionExportLevel `json:"detection_level"`
		DetectedAt     *string             `json:"detected_at"`
		AlertName      string              `json:"alert_name"`
		LogSource      string              `json:"log_source"`
		Notes          string              `json:"notes"`
	}
	missionExportReview struct {
		ReviewedBy *missionExportPerson `json:"reviewed_by"`
		ReviewedAt *string              `json:"reviewed_at"`
	}
	missionExportEvidence struct {
		ID          string               `json:"id"`
		Side        string               `json:"side"`
		Name        string               `json:"name"`
		ContentType string               `json:"content_type"`
		Size        int64                `json:"size"`
		SHA256      string               `json:"sha256"`
		Caption     string               `json:"caption"`
		UploadedBy  *missionExportPerson `json:"uploaded_by"`
		UploadedAt  string               `json:"uploaded_at"`
	}
	missionExportTest struct {
		ID                string                  `json:"id"`
		Number            int                     `json:"number"`
		Position          int                     `json:"position"`
		ScenarioID        *string                 `json:"scenario_id"`
		CategoryID        *string                 `json:"category_id"`
		TemplateID        *string                 `json:"test_template_id"`
		Name              string                  `json:"name"`
		Description       string                  `json:"description"`
		Objective         string                  `json:"objective"`
		Procedure         string                  `json:"procedure"`
		Prerequisites     string                  `json:"prerequisites"`
		Cleanup           string                  `json:"cleanup"`
		ExpectedDetection string                  `json:"expected_detection"`
		Platforms         []string                `json:"platforms"`
		OpsecLevel        string                  `json:"opsec_level"`
		State             string                  `json:"state"`
		StateReason       string                  `json:"state_reason"`
		ReleasedToBlue    bool                    `json:"released_to_blue"`
		Tags              []missionExportTag      `json:"tags"`
		Red               missionExportRed        `json:"red"`
		Blue              missionExportBlue       `json:"blue"`
		Review            missionExportReview     `json:"review"`
		Evidence          []missionExportEvidence `json:"evidence"`
		CreatedAt         string                  `json:"created_at"`
		UpdatedAt         string                  `json:"updated_at"`
	}
)

// exportOptTime is an instant or null.
func exportOptTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := exportTime(t)
	return &s
}

// exportOptDate is a calendar date or null.
func exportOptDate(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

// exportOptID is an id or null.
func exportOptID(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}

// exportPerson is a user or null.
func exportPerson(u *ent.User) *missionExportPerson {
	if u == nil {
		return nil
	}
	return &missionExportPerson{Name: u.DisplayName, Email: u.Email}
}

func exportLevel(l *ent.DetectionLevel) *missionExportLevel {
	if l == nil {
		return nil
	}
	return &missionExportLevel{ID: l.ID.String(), Name: l.Name, Score: l.Score, Colour: l.Colour,
		CountsAsDetected: l.CountsAsDetected, Position: l.Position, Retired: l.Retired}
}

// exportMissionJSON sends the whole mission for archival: its fields,
// members, categories, scenarios, the detection scale, and every test the
// viewer sees with all its fields, tags, results and the metadata of its
// evidence files (not their bytes). Twelve queries whatever its size.
func (s *Server) exportMissionJSON(c echo.Context) error {
	a, err := s.missionAccess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m := a.Mission
	out := missionExport{
		Format: missionExportFormat, Version: missionExportVersion, ExportedAt: exportTime(exportPtr(s.Now())),
		ReleasedOnly: !a.SeesUnreleased(),
		Mission: missionExportMission{ID: m.ID.String(), Name: m.Name, Description: m.Description, Scope: m.Scope,
			Status: string(m.Status), StartDate: exportOptDate(m.StartDate), EndDate: exportOptDate(m.EndDate),
			CreatedAt: exportTime(&m.CreatedAt), UpdatedAt: exportTime(&m.UpdatedAt)},
		Members: []missionExportMember{}, Categories: []missionExportGroup{}, Scenarios: []missionExportGroup{},
		DetectionLevels: []missionExportLevel{}, Tests: []missionExportTest{},
	}
	members, err := s.Ent.MissionMember.Query().Where(missionmember.MissionID(m.ID)).
		WithUser(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName, user.FieldEmail) }).All(ctx)
	if err != nil {
		return fmt.Errorf("load members: %w", err)
	}
	for _, mm := range members {
		if u := mm.Edges.User; u != nil {
			out.Members = append(out.Members, missionExportMember{Name: u.DisplayName, Email: u.Email, Role: string(mm.Role)})
		}
	}
	slices.SortFunc(out.Members, func(x, y missionExportMember) int { return strings.Compare(x.Email, y.Email) })
	cats, err := s.Ent.MissionCategory.Query().Where(missioncategory.MissionID(m.ID)).
		Order(missioncategory.ByPosition(), missioncategory.ByName()).All(ctx)
	if err != nil {
		return fmt.Errorf("load categories: %w", err)
	}
	for _, cat := range cats {
		out.Categories = append(out.Categories, missionExportGroup{ID: cat.ID.String(), Name: cat.Name, Colour: cat.Colour, Position: cat.Position})
	}
	scenarios, err := s.Ent.MissionScenario.Query().Where(missionscenario.MissionID(m.ID)).
		Order(missionscenario.ByPosition(), missionscenario.ByName()).All(ctx)
	if err != nil {
		return fmt.Errorf("load scenarios: %w", err)
	}
	for _, sc := range scenarios {
		out.Scenarios = append(out.Scenarios, missionExportGroup{ID: sc.ID.String(), Name: sc.Name, Description: sc.Description, Position: sc.Position})
	}
	levels, err := s.Ent.DetectionLevel.Query().Order(detectionlevel.ByPosition(), detectionlevel.ByName()).All(ctx)
	if err != nil {
		return fmt.Errorf("load the detection scale: %w", err)
	}
	for _, l := range levels {
		out.DetectionLevels = append(out.DetectionLevels, *exportLevel(l))
	}
	tests, err := s.exportTests(ctx, m.ID)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(tests))
	for i, t := range tests {
		ids[i] = t.ID
	}
	files, err := s.Ent.EvidenceFile.Query().Where(predicate.EvidenceFile(database.In(evidencefile.FieldMissionTestID, ids))).
		Order(ent.Asc(evidencefile.FieldCreatedAt), ent.Asc(evidencefile.FieldID)).
		WithUploadedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName, user.FieldEmail) }).All(ctx)
	if err != nil {
		return fmt.Errorf("load evidence: %w", err)
	}
	evidence := map[uuid.UUID][]missionExportEvidence{}
	for _, f := range files {
		evidence[f.MissionTestID] = append(evidence[f.MissionTestID], missionExportEvidence{
			ID: f.ID.String(), Side: string(f.Side), Name: f.OriginalName, ContentType: f.ContentType,
			Size: f.Size, SHA256: f.Sha256, Caption: f.Caption, UploadedBy: exportPerson(f.Edges.UploadedBy),
			UploadedAt: exportTime(&f.CreatedAt),
		})
	}
	for i, t := range tests {
		et := missionExportTest{
			ID: t.ID.String(), Number: i + 1, Position: t.Position,
			ScenarioID: exportOptID(t.MissionScenarioID), CategoryID: exportOptID(t.CategoryID), TemplateID: exportOptID(t.TestTemplateID),
			Name: t.Name, Description: t.Description, Objective: t.Objective, Procedure: t.Procedure,
			Prerequisites: t.Prerequisites, Cleanup: t.Cleanup, ExpectedDetection: t.ExpectedDetection,
			Platforms: t.Platforms, OpsecLevel: string(t.OpsecLevel),
			State: string(t.State), StateReason: t.StateReason, ReleasedToBlue: t.ReleasedToBlue,
			Tags: []missionExportTag{},
			Red: missionExportRed{ExecutedBy: exportPerson(t.Edges.ExecutedBy), StartedAt: exportOptTime(t.StartedAt), EndedAt: exportOptTime(t.EndedAt),
				Command: t.Command, SourceHost: t.SourceHost, TargetHost: t.TargetHost, Notes: t.RedNotes},
			Blue: missionExportBlue{DetectionLevel: exportLevel(t.Edges.DetectionLevel), DetectedAt: exportOptTime(t.DetectedAt),
				AlertName: t.AlertName, LogSource: t.LogSource, Notes: t.BlueNotes},
			Review:    missionExportReview{ReviewedBy: exportPerson(t.Edges.ReviewedBy), ReviewedAt: exportOptTime(t.ReviewedAt)},
			Evidence:  evidence[t.ID],
			CreatedAt: exportTime(&t.CreatedAt), UpdatedAt: exportTime(&t.UpdatedAt),
		}
		if et.Platforms == nil {
			et.Platforms = []string{}
		}
		if et.Evidence == nil {
			et.Evidence = []missionExportEvidence{}
		}
		if sc := t.Edges.Scenario; sc == nil {
			et.ScenarioID = nil // deleted since
		}
		if cat := t.Edges.Category; cat == nil {
			et.CategoryID = nil
		}
		for _, g := range t.Edges.MitreTags {
			tactics := g.Tactics
			if tactics == nil {
				tactics = []map[string]string{}
			}
			et.Tags = append(et.Tags, missionExportTag{Kind: string(g.Kind), ExternalID: g.ExternalID, Name: g.Name, URL: g.URL, Tactics: tactics})
		}
		out.Tests = append(out.Tests, et)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return sendExport(c, "application/json; charset=utf-8", m.Name, "mission.json", data)
}

// exportPtr returns a pointer to v.
func exportPtr[T any](v T) *T { return &v }

// navigatorImportForm is the upload form's text part (the file is read
// from the multipart body).
type navigatorImportForm struct {
	Text string `form:"layer_text"`
}

// navigatorConfirmForm is the preview's form: the chosen templates, and
// the layer's techniques and name so that a refusal can show the preview
// again.
type navigatorConfirmForm struct {
	LayerName  string   `form:"layer_name"`
	Techniques []string `form:"technique"`
	TemplateID []string `form:"template_id"`
}

// navigatorFileMax is the most bytes of a layer read (the route's body
// limit is lower).
const navigatorFileMax = 4 << 20

// renderNavigatorImport renders the import page with status.
func (s *Server) renderNavigatorImport(c echo.Context, status int, a *mission.Access, p missionpage.NavigatorImport) error {
	p.MissionID, p.MissionName = a.Mission.ID.String(), a.Mission.Name
	lp := s.layoutProps(c, "exports.import.title", "nav.missions")
	lp.Title = a.Mission.Name + " · " + lp.Title
	return s.render(c, status, missionpage.NavigatorImportPage(lp, p), nil)
}

// showNavigatorImport renders the upload form (leads, mission not
// archived).
func (s *Server) showNavigatorImport(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	return s.renderNavigatorImport(c, http.StatusOK, a, missionpage.NavigatorImport{})
}

// previewNavigatorImport reads the layer (an uploaded file, else the
// pasted text), checks it and its technique IDs against the catalogue,
// and shows what it would add. It creates nothing.
func (s *Server) previewNavigatorImport(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f navigatorImportForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	data := []byte(f.Text)
	if fh, err := c.FormFile("layer"); err == nil && fh.Size > 0 {
		file, err := fh.Open()
		if err != nil {
			return fmt.Errorf("read the layer: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(file, navigatorFileMax))
		file.Close()
		if err != nil {
			return fmt.Errorf("read the layer: %w", err)
		}
	}
	p := missionpage.NavigatorImport{Text: f.Text}
	if utf8.Valid(data) && len(data) <= missionpage.LayerTextMax {
		p.Text = string(data) // kept, so that it can be corrected here
	}
	refuse := func(err error) error {
		pe, ok := err.(*navigator.ParseError)
		if !ok {
			return err
		}
		p.Errors, p.ErrorIDs = components.Errors{"layer": pe.Reason}, pe.IDs
		return s.renderNavigatorImport(c, http.StatusUnprocessableEntity, a, p)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return refuse(&navigator.ParseError{Reason: "exports.import.error.missing"})
	}
	layer, err := navigator.Parse(data)
	if err != nil {
		return refuse(err)
	}
	ctx := c.Request().Context()
	rows, err := s.navigatorRows(ctx, layer.IDs, nil)
	if err != nil {
		return refuse(err)
	}
	p.Preview = &missionpage.NavigatorPreview{LayerName: cutRunes(layer.Name, 300), Rows: rows}
	return s.renderNavigatorImport(c, http.StatusOK, a, p)
}

// navigatorRows finds the catalogue entries of the layer's IDs and the
// library's templates tagged with each (three queries). An ID the
// catalogue does not hold is a *navigator.ParseError. chosen marks the
// checked templates (nil: all of them).
func (s *Server) navigatorRows(ctx context.Context, ids []string, chosen map[string]bool) ([]missionpage.NavigatorRow, error) {
	var techIDs, subIDs []string
	for _, id := range ids {
		if strings.Contains(id, ".") {
			subIDs = append(subIDs, id)
		} else {
			techIDs = append(techIDs, id)
		}
	}
	techs, err := s.Ent.MitreTechnique.Query().Where(mitretechnique.ExternalIDIn(techIDs...)).
		Select(mitretechnique.FieldExternalID, mitretechnique.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	subs, err := s.Ent.MitreSubtechnique.Query().Where(mitresubtechnique.ExternalIDIn(subIDs...)).
		Select(mitresubtechnique.FieldExternalID, mitresubtechnique.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	names := map[string]string{}
	byRow := map[uuid.UUID]string{} // catalogue row → ATT&CK ID
	var techRows, subRows []uuid.UUID
	for _, t := range techs {
		names[t.ExternalID], byRow[t.ID] = t.Name, t.ExternalID
		techRows = append(techRows, t.ID)
	}
	for _, t := range subs {
		names[t.ExternalID], byRow[t.ID] = t.Name, t.ExternalID
		subRows = append(subRows, t.ID)
	}
	layer := navigator.ImportedLayer{IDs: ids}
	if err := layer.Unknown(func(id string) bool { _, ok := names[id]; return ok }); err != nil {
		return nil, err
	}
	tagged := testtemplatemitretag.Or(testtemplatemitretag.TechniqueIDIn(techRows...), testtemplatemitretag.SubtechniqueIDIn(subRows...))
	templates, err := s.Ent.TestTemplate.Query().Where(testtemplate.HasMitreTagsWith(tagged)).
		Order(testtemplate.ByName(), testtemplate.ByID()).
		WithMitreTags(func(q *ent.TestTemplateMitreTagQuery) { q.Where(tagged) }).
		Select(testtemplate.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the library: %w", err)
	}
	perID := map[string][]*ent.TestTemplate{}
	for _, t := range templates {
		for _, g := range t.Edges.MitreTags {
			for _, ref := range []*uuid.UUID{g.TechniqueID, g.SubtechniqueID} {
				if ref != nil && byRow[*ref] != "" && !slices.Contains(perID[byRow[*ref]], t) {
					perID[byRow[*ref]] = append(perID[byRow[*ref]], t)
				}
			}
		}
	}
	listed := map[uuid.UUID]bool{}
	rows := make([]missionpage.NavigatorRow, 0, len(ids))
	for _, id := range ids {
		r := missionpage.NavigatorRow{TechniqueID: id, Name: names[id]}
		for _, t := range perID[id] {
			nt := missionpage.NavigatorTemplate{ID: t.ID.String(), Name: t.Name, Listed: !listed[t.ID]}
			nt.Checked = nt.Listed && (chosen == nil || chosen[nt.ID])
			listed[t.ID] = true
			r.Templates = append(r.Templates, nt)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// confirmNavigatorImport adds the chosen templates to the plan, all of
// them or none, with the plan change recorded in the same transaction
// (mission.AddTemplates); a template deleted since the preview refuses the
// whole import (422).
func (s *Server) confirmNavigatorImport(c echo.Context) error {
	a, err := s.planAccess(c)
	if err != nil {
		return err
	}
	var f navigatorConfirmForm
	if err := (&echo.DefaultBinder{}).BindBody(c, &f); err != nil {
		return echo.ErrBadRequest
	}
	var techniques []string
	for _, id := range f.Techniques {
		if !attackid.IsTechniqueOrSub(id) {
			return echo.ErrBadRequest
		}
		if !slices.Contains(techniques, id) {
			techniques = append(techniques, id)
		}
	}
	var ids []uuid.UUID
	chosen := map[string]bool{}
	for _, raw := range f.TemplateID {
		id, err := uuid.Parse(raw)
		if err != nil {
			return echo.ErrBadRequest
		}
		if !chosen[id.String()] {
			ids = append(ids, id)
			chosen[id.String()] = true
		}
	}
	ctx := c.Request().Context()
	refuse := func(key string) error {
		if len(techniques) == 0 {
			return echo.ErrBadRequest
		}
		rows, err := s.navigatorRows(ctx, techniques, chosen)
		if err != nil {
			return s.refuseNavigatorLayer(c, a, err)
		}
		p := missionpage.NavigatorImport{Preview: &missionpage.NavigatorPreview{
			LayerName: cutRunes(f.LayerName, 300), Rows: rows, Error: key}}
		return s.renderNavigatorImport(c, http.StatusUnprocessableEntity, a, p)
	}
	if len(ids) == 0 {
		return refuse("exports.import.error.choose")
	}
	details := map[string]any{"change": "navigator_import", "layer": cutRunes(f.LayerName, 300),
		"techniques": techniques, "test_template_ids": uuidStrings(ids)}
	if _, err := mission.AddTemplates(ctx, s.Ent, a, ids, details); ent.IsNotFound(err) {
		return refuse("exports.import.error.template_gone")
	} else if err != nil {
		return fmt.Errorf("add templates: %w", err)
	}
	s.flash(c, "success", "exports.import.created")
	return c.Redirect(http.StatusSeeOther, planURL(a))
}

// refuseNavigatorLayer answers a confirmation whose techniques the catalogue
// no longer holds: the upload form again, with the reason.
func (s *Server) refuseNavigatorLayer(c echo.Context, a *mission.Access, err error) error {
	pe, ok := err.(*navigator.ParseError)
	if !ok {
		return err
	}
	p := missionpage.NavigatorImport{Errors: components.Errors{"layer": pe.Reason}, ErrorIDs: pe.IDs}
	return s.renderNavigatorImport(c, http.StatusUnprocessableEntity, a, p)
}
