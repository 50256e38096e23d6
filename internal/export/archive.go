package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/defensivetool"
	entmission "violet/ent/mission"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/internal/database"
	"violet/internal/mission"
	"violet/internal/missionread"
)

// archiveFormat and archiveVersion name the JSON archive's format; the
// version changes when a field changes meaning.
const (
	archiveFormat  = "violet-mission"
	archiveVersion = 1
)

// The JSON archive's document types: MissionJSON writes them, and the
// whole-mission archive's import (internal/missionarchive) decodes its
// manifest.json into the same types, so the writer and the reader cannot
// drift apart (docs/archive.md describes every field). Struct field order
// is the key order; instants are RFC 3339 in UTC, calendar dates (the
// mission's start and end) RFC 3339 full-dates; absent values are null.
// Ids are strings: the reader parses them (and refuses a malformed one).
type (
	// Document is the whole JSON export: the mission, its members,
	// categories, scenarios, the detection scale and its tests.
	Document struct {
		Format          string      `json:"format"`
		Version         int         `json:"version"`
		ExportedAt      string      `json:"exported_at"`
		ReleasedOnly    bool        `json:"released_only"`
		Mission         DocMission  `json:"mission"`
		Members         []DocMember `json:"members"`
		Categories      []DocGroup  `json:"categories"`
		Scenarios       []DocGroup  `json:"scenarios"`
		DetectionLevels []DocLevel  `json:"detection_levels"`
		Tests           []DocTest   `json:"tests"`
	}
	// DocMission is the mission's own fields.
	DocMission struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Scope       string `json:"scope"`
		Status      string `json:"status"`
		// Labels and Tools (the defensive tools in scope, by name) are
		// what a whole-mission archive needs to rebuild the mission
		// elsewhere (internal/missionarchive, docs/archive.md).
		Labels    []string  `json:"labels"`
		Tools     []DocTool `json:"tools"`
		StartDate *string   `json:"start_date"`
		EndDate   *string   `json:"end_date"`
		CreatedAt string    `json:"created_at"`
		UpdatedAt string    `json:"updated_at"`
	}
	// DocTool is a defensive tool in the mission's scope, by name.
	DocTool struct {
		Name   string `json:"name"`
		Vendor string `json:"vendor"`
		Kind   string `json:"kind"`
	}
	// DocTemplate names the library template a test came from, so
	// another instance can find its own (external_ref, else name).
	DocTemplate struct {
		Name        string `json:"name"`
		ExternalRef string `json:"external_ref"`
		Source      string `json:"source"`
	}
	// DocPerson is a user a test or a file names, by name and email.
	DocPerson struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	// DocMember is a member of the mission with their role.
	DocMember struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	// DocGroup is a category or a scenario of the mission.
	DocGroup struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Colour      string `json:"colour,omitempty"`
		Position    int    `json:"position"`
	}
	// The instance's registries (the detection scale, the defensive
	// tools, the library) are named by name, not by this instance's ids:
	// the document is the same wherever the mission is, and a
	// whole-mission archive imported elsewhere (internal/missionarchive)
	// exports byte for byte as it did here. The mission's own rows (the
	// mission, its categories, scenarios, tests and files) keep their ids,
	// which the import keeps too. DocLevel is a level of the detection
	// scale, by name.
	DocLevel struct {
		Name             string `json:"name"`
		Score            int    `json:"score"`
		Colour           string `json:"colour"`
		CountsAsDetected bool   `json:"counts_as_detected"`
		Position         int    `json:"position"`
		Retired          bool   `json:"retired"`
	}
	// DocTag is an ATT&CK tag of a test.
	DocTag struct {
		Kind       string              `json:"kind"`
		ExternalID string              `json:"external_id"`
		Name       string              `json:"name"`
		URL        string              `json:"url"`
		Tactics    []map[string]string `json:"tactics"`
	}
	// DocRed is a test's execution, as the red team recorded it.
	DocRed struct {
		ExecutedBy *DocPerson `json:"executed_by"`
		StartedAt  *string    `json:"started_at"`
		EndedAt    *string    `json:"ended_at"`
		Command    string     `json:"command"`
		SourceHost string     `json:"source_host"`
		TargetHost string     `json:"target_host"`
		TargetUser string     `json:"target_user"`
		Executor   string     `json:"executor"`
		Notes      string     `json:"notes"`
	}
	// DocBlue is a test's detection, as the blue team recorded it
	// (the outcome without a tool; DocOutcome has them all).
	DocBlue struct {
		DetectionLevel *DocLevel `json:"detection_level"`
		DetectedAt     *string   `json:"detected_at"`
		AlertName      string    `json:"alert_name"`
		LogSource      string    `json:"log_source"`
		Notes          string    `json:"notes"`
	}
	// DocReview is who reviewed a test, and when.
	DocReview struct {
		ReviewedBy *DocPerson `json:"reviewed_by"`
		ReviewedAt *string    `json:"reviewed_at"`
	}
	// DocEvidence is the metadata of an evidence file (not its bytes,
	// which the whole-mission archive carries by SHA-256).
	DocEvidence struct {
		ID          string     `json:"id"`
		Side        string     `json:"side"`
		Name        string     `json:"name"`
		ContentType string     `json:"content_type"`
		Size        int64      `json:"size"`
		SHA256      string     `json:"sha256"`
		Caption     string     `json:"caption"`
		UploadedBy  *DocPerson `json:"uploaded_by"`
		UploadedAt  string     `json:"uploaded_at"`
	}
	// DocTest is one test with all its fields, tags, results and files.
	DocTest struct {
		ID                string        `json:"id"`
		Number            int           `json:"number"`
		Position          int           `json:"position"`
		ScenarioID        *string       `json:"scenario_id"`
		CategoryID        *string       `json:"category_id"`
		Template          *DocTemplate  `json:"template"`
		Name              string        `json:"name"`
		Description       string        `json:"description"`
		Objective         string        `json:"objective"`
		Procedure         string        `json:"procedure"`
		Prerequisites     string        `json:"prerequisites"`
		Cleanup           string        `json:"cleanup"`
		ExpectedDetection string        `json:"expected_detection"`
		Platforms         []string      `json:"platforms"`
		OpsecLevel        string        `json:"opsec_level"`
		State             string        `json:"state"`
		StateReason       string        `json:"state_reason"`
		ReleasedToBlue    bool          `json:"released_to_blue"`
		Tags              []DocTag      `json:"tags"`
		Red               DocRed        `json:"red"`
		Blue              DocBlue       `json:"blue"`
		Outcomes          []DocOutcome  `json:"outcomes"`
		Review            DocReview     `json:"review"`
		Evidence          []DocEvidence `json:"evidence"`
		CreatedAt         string        `json:"created_at"`
		UpdatedAt         string        `json:"updated_at"`
	}
)

// DocOutcome is one outcome of a test per defensive tool (issue 20);
// tool and kind are null for the outcome without a tool, level when none
// is recorded.
type DocOutcome struct {
	Tool       *string `json:"tool"`
	Kind       *string `json:"kind"`
	Level      *string `json:"level"`
	Detected   bool    `json:"counts_as_detected"`
	DetectedAt *string `json:"detected_at"`
	AlertName  string  `json:"alert_name"`
	LogSource  string  `json:"log_source"`
	Notes      string  `json:"notes"`
}

// archiveOutcomes are a test's outcomes as the archive writes them.
func archiveOutcomes(os []missionread.Outcome) []DocOutcome {
	out := make([]DocOutcome, 0, len(os))
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for _, o := range os {
		ao := DocOutcome{Level: opt(o.Level), Detected: o.Detected,
			DetectedAt: optStamp(o.DetectedAt), AlertName: o.AlertName, LogSource: o.LogSource, Notes: o.Notes}
		if o.ToolID != nil {
			ao.Tool, ao.Kind = &o.Tool, opt(o.Kind)
		}
		out = append(out, ao)
	}
	return out
}

// personOf is a person a test names, or null.
func personOf(p *missionread.Person) *DocPerson {
	if p == nil {
		return nil
	}
	return &DocPerson{Name: p.Name, Email: p.Email}
}

// uploader is the user who uploaded a file, or null.
func uploader(u *ent.User) *DocPerson {
	if u == nil {
		return nil
	}
	return &DocPerson{Name: u.DisplayName, Email: u.Email}
}

func level(l *ent.DetectionLevel) *DocLevel {
	if l == nil {
		return nil
	}
	return &DocLevel{Name: l.Name, Score: l.Score, Colour: l.Colour,
		CountsAsDetected: l.CountsAsDetected, Position: l.Position, Retired: l.Retired}
}

// MissionJSON writes the whole mission for archival: its fields, members,
// categories, scenarios, the detection scale, and every test the viewer
// sees with all its fields, tags, results and the metadata of its evidence
// files (not their bytes), read in eleven statements whatever its size
// (missionread.LoadArchive, missionread.Outcomes, the tools in scope, the
// templates). It is also the manifest of the whole-mission archive
// (docs/archive.md). now is the export's date.
func MissionJSON(ctx context.Context, client *ent.Client, a *mission.Access, now time.Time) (File, error) {
	f, _, err := MissionDocument(ctx, client, a, now)
	return f, err
}

// MissionDocument is MissionJSON with the rows of the evidence files the
// document names, for the whole-mission archive (internal/missionarchive),
// which adds their bytes: the manifest and the files come from one read.
// Two more statements than LoadArchive and Outcomes: the tools in scope
// and the templates the tests came from.
func MissionDocument(ctx context.Context, client *ent.Client, a *mission.Access, now time.Time) (File, []*ent.EvidenceFile, error) {
	in, err := missionread.LoadArchive(ctx, client, a)
	if err != nil {
		return File{}, nil, err
	}
	outcomes, err := missionread.Outcomes(ctx, client, a.Mission.ID)
	if err != nil {
		return File{}, nil, err
	}
	m := a.Mission
	tools, err := client.DefensiveTool.Query().Where(defensivetool.HasMissionsWith(entmission.ID(m.ID))).Order(defensivetool.ByName(), defensivetool.ByID()).All(ctx)
	if err != nil {
		return File{}, nil, fmt.Errorf("load the mission's tools: %w", err)
	}
	templates, err := templatesOf(ctx, client, in.Tests)
	if err != nil {
		return File{}, nil, err
	}
	labels := m.Labels
	if labels == nil {
		labels = []string{}
	}
	out := Document{
		Format: archiveFormat, Version: archiveVersion, ExportedAt: stamp(&now), ReleasedOnly: !a.SeesUnreleased(),
		Mission: DocMission{ID: m.ID.String(), Name: m.Name, Description: m.Description, Scope: m.Scope,
			Status: string(m.Status), Labels: labels, Tools: []DocTool{},
			StartDate: optDate(m.StartDate), EndDate: optDate(m.EndDate),
			CreatedAt: stamp(&m.CreatedAt), UpdatedAt: stamp(&m.UpdatedAt)},
		Members: []DocMember{}, Categories: []DocGroup{}, Scenarios: []DocGroup{},
		DetectionLevels: []DocLevel{}, Tests: []DocTest{},
	}
	for _, t := range tools {
		out.Mission.Tools = append(out.Mission.Tools, DocTool{Name: t.Name, Vendor: t.Vendor, Kind: string(t.Kind)})
	}
	for _, mm := range in.Members {
		if u := mm.Edges.User; u != nil {
			out.Members = append(out.Members, DocMember{Name: u.DisplayName, Email: u.Email, Role: string(mm.Role)})
		}
	}
	slices.SortFunc(out.Members, func(x, y DocMember) int { return strings.Compare(x.Email, y.Email) })
	for _, cat := range in.Categories {
		out.Categories = append(out.Categories, DocGroup{ID: cat.ID.String(), Name: cat.Name, Colour: cat.Colour, Position: cat.Position})
	}
	for _, sc := range in.Scenarios {
		out.Scenarios = append(out.Scenarios, DocGroup{ID: sc.ID.String(), Name: sc.Name, Description: sc.Description, Position: sc.Position})
	}
	for _, l := range in.Levels {
		out.DetectionLevels = append(out.DetectionLevels, *level(l))
	}
	var files []*ent.EvidenceFile
	for i := range in.Tests {
		files = append(files, in.Evidence[in.Tests[i].ID]...)
	}
	return newStream("application/json; charset=utf-8", m.Name, "mission.json", func(w io.Writer) error {
		return writeArchiveWith(w, out, in, outcomes, templates)
	}), files, nil
}

// templatesOf reads the name, external reference and source of the
// templates the tests came from, deleted ones too (the test still names
// it): one statement.
func templatesOf(ctx context.Context, client *ent.Client, tests []missionread.Test) (map[uuid.UUID]*DocTemplate, error) {
	var ids []uuid.UUID
	for i := range tests {
		if id := tests[i].TestTemplateID; id != nil && !slices.Contains(ids, *id) {
			ids = append(ids, *id)
		}
	}
	out := map[uuid.UUID]*DocTemplate{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := client.TestTemplate.Query().Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).
		Select(testtemplate.FieldName, testtemplate.FieldExternalRef, testtemplate.FieldSource).
		All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return nil, fmt.Errorf("load the tests' templates: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = &DocTemplate{Name: r.Name, ExternalRef: r.ExternalRef, Source: string(r.Source)}
	}
	return out, nil
}

// writeArchive writes the archive as json.MarshalIndent(out, "", "  ")
// would with the tests of in, but one test at a time: the mission's
// fields first, then each test encoded on its own and written, so that a
// large mission's archive is never whole in memory.
func writeArchive(w io.Writer, out Document, in missionread.Archive) error {
	return writeArchiveWith(w, out, in, nil, nil)
}

// writeArchiveWith is writeArchive with each test's outcomes (by test id)
// and the templates the tests came from (by template id).
func writeArchiveWith(w io.Writer, out Document, in missionread.Archive, outcomes map[uuid.UUID][]missionread.Outcome,
	templates map[uuid.UUID]*DocTemplate) error {
	out.Tests = []DocTest{}
	head, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if len(in.Tests) == 0 {
		_, err = w.Write(head)
		return err
	}
	// head ends with `"tests": []` and the closing brace: the tests go
	// between the brackets, each indented at the array's depth.
	const empty = "[]\n}"
	if !bytes.HasSuffix(head, []byte(empty)) {
		return fmt.Errorf("the archive's tests are not its last field")
	}
	if _, err := w.Write(append(head[:len(head)-len(empty)], "[\n"...)); err != nil {
		return err
	}
	for i := range in.Tests {
		at := archiveTestOf(&in.Tests[i], in.Evidence[in.Tests[i].ID])
		at.Outcomes = archiveOutcomes(outcomes[in.Tests[i].ID])
		if id := in.Tests[i].TestTemplateID; id != nil {
			at.Template = templates[*id]
		}
		data, err := json.MarshalIndent(at, "    ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n"
		if i == len(in.Tests)-1 {
			sep = "\n"
		}
		if _, err := io.WriteString(w, "    "); err != nil {
			return err
		}
		if _, err := w.Write(append(data, sep...)); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "  ]\n}")
	return err
}

// archiveTestOf is one test of the archive with its evidence files.
func archiveTestOf(t *missionread.Test, files []*ent.EvidenceFile) DocTest {
	et := DocTest{
		ID: t.ID.String(), Number: t.Number, Position: t.Position,
		Name: t.Name, Description: t.Description, Objective: t.Objective, Procedure: t.Procedure,
		Prerequisites: t.Prerequisites, Cleanup: t.Cleanup, ExpectedDetection: t.ExpectedDetection,
		Platforms: t.Platforms, OpsecLevel: string(t.OpsecLevel),
		State: string(t.State), StateReason: t.StateReason, ReleasedToBlue: t.ReleasedToBlue,
		Tags: []DocTag{},
		Red: DocRed{ExecutedBy: personOf(t.ExecutedBy), StartedAt: optStamp(t.StartedAt), EndedAt: optStamp(t.EndedAt),
			Command: t.Command, SourceHost: t.SourceHost, TargetHost: t.TargetHost,
			TargetUser: t.TargetUser, Executor: t.Executor, Notes: t.RedNotes},
		Blue: DocBlue{DetectionLevel: level(t.Level), DetectedAt: optStamp(t.DetectedAt),
			AlertName: t.AlertName, LogSource: t.LogSource, Notes: t.BlueNotes},
		Review:    DocReview{ReviewedBy: personOf(t.ReviewedBy), ReviewedAt: optStamp(t.ReviewedAt)},
		Evidence:  []DocEvidence{},
		Outcomes:  []DocOutcome{},
		CreatedAt: stamp(&t.CreatedAt), UpdatedAt: stamp(&t.UpdatedAt),
	}
	if et.Platforms == nil {
		et.Platforms = []string{}
	}
	// A scenario or category deleted since is null.
	if t.Scenario != nil {
		et.ScenarioID = optID(&t.Scenario.ID)
	}
	if t.Category != nil {
		et.CategoryID = optID(&t.Category.ID)
	}
	for _, g := range t.Tags {
		tactics := g.Tactics
		if tactics == nil {
			tactics = []map[string]string{}
		}
		et.Tags = append(et.Tags, DocTag{Kind: g.Kind, ExternalID: g.ExternalID, Name: g.Name, URL: g.URL, Tactics: tactics})
	}
	for _, f := range files {
		et.Evidence = append(et.Evidence, DocEvidence{
			ID: f.ID.String(), Side: string(f.Side), Name: f.OriginalName, ContentType: f.ContentType,
			Size: f.Size, SHA256: f.Sha256, Caption: f.Caption, UploadedBy: uploader(f.Edges.UploadedBy),
			UploadedAt: stamp(&f.CreatedAt),
		})
	}
	return et
}
