package missionarchive

import (
	"regexp"
	"time"

	"github.com/google/uuid"

	"violet/ent/defensivetool"
	"violet/ent/evidencefile"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/missiontestmitretag"
	"violet/ent/testtemplate"
)

// Manifest is manifest.json as the import reads it: the JSON export's
// document (internal/export/archive.go writes it; docs/archive.md
// describes every field). Fields the import does not use (a test's
// number, a level's position) are not decoded; unknown fields are
// ignored, so a later version 1 that adds one still imports.
type Manifest struct {
	Format          string          `json:"format"`
	Version         int             `json:"version"`
	ExportedAt      string          `json:"exported_at"`
	ReleasedOnly    bool            `json:"released_only"`
	Mission         mMission        `json:"mission"`
	Members         []mMember       `json:"members"`
	Categories      []mGroup        `json:"categories"`
	Scenarios       []mGroup        `json:"scenarios"`
	DetectionLevels []mLevel        `json:"detection_levels"`
	Tests           []mTest         `json:"tests"`
	evidence        map[string]bool // the SHA-256 of every file named
}

type (
	mMission struct {
		ID          uuid.UUID `json:"id"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		Scope       string    `json:"scope"`
		Status      string    `json:"status"`
		Labels      []string  `json:"labels"`
		Tools       []mTool   `json:"tools"`
		StartDate   *string   `json:"start_date"`
		EndDate     *string   `json:"end_date"`
		CreatedAt   string    `json:"created_at"`
		UpdatedAt   string    `json:"updated_at"`
	}
	mTool struct {
		Name   string `json:"name"`
		Vendor string `json:"vendor"`
		Kind   string `json:"kind"`
	}
	mPerson struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	mMember struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	mGroup struct {
		ID          uuid.UUID `json:"id"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		Colour      string    `json:"colour"`
		Position    int       `json:"position"`
	}
	mLevel struct {
		Name             string `json:"name"`
		Score            int    `json:"score"`
		Colour           string `json:"colour"`
		CountsAsDetected bool   `json:"counts_as_detected"`
		Retired          bool   `json:"retired"`
	}
	mTag struct {
		Kind       string              `json:"kind"`
		ExternalID string              `json:"external_id"`
		Name       string              `json:"name"`
		URL        string              `json:"url"`
		Tactics    []map[string]string `json:"tactics"`
	}
	mTemplate struct {
		Name        string `json:"name"`
		ExternalRef string `json:"external_ref"`
		Source      string `json:"source"`
	}
	mRed struct {
		ExecutedBy *mPerson `json:"executed_by"`
		StartedAt  *string  `json:"started_at"`
		EndedAt    *string  `json:"ended_at"`
		Command    string   `json:"command"`
		SourceHost string   `json:"source_host"`
		TargetHost string   `json:"target_host"`
		TargetUser string   `json:"target_user"`
		Executor   string   `json:"executor"`
		Notes      string   `json:"notes"`
	}
	mBlue struct {
		DetectionLevel *mLevel `json:"detection_level"`
		DetectedAt     *string `json:"detected_at"`
		AlertName      string  `json:"alert_name"`
		LogSource      string  `json:"log_source"`
		Notes          string  `json:"notes"`
	}
	mReview struct {
		ReviewedBy *mPerson `json:"reviewed_by"`
		ReviewedAt *string  `json:"reviewed_at"`
	}
	mOutcome struct {
		Tool       *string `json:"tool"`
		Kind       *string `json:"kind"`
		Level      *string `json:"level"`
		Detected   bool    `json:"counts_as_detected"`
		DetectedAt *string `json:"detected_at"`
		AlertName  string  `json:"alert_name"`
		LogSource  string  `json:"log_source"`
		Notes      string  `json:"notes"`
	}
	mEvidence struct {
		ID          uuid.UUID `json:"id"`
		Side        string    `json:"side"`
		Name        string    `json:"name"`
		ContentType string    `json:"content_type"`
		Size        int64     `json:"size"`
		SHA256      string    `json:"sha256"`
		Caption     string    `json:"caption"`
		UploadedBy  *mPerson  `json:"uploaded_by"`
		UploadedAt  string    `json:"uploaded_at"`
	}
	mTest struct {
		ID                uuid.UUID   `json:"id"`
		Position          int         `json:"position"`
		ScenarioID        *uuid.UUID  `json:"scenario_id"`
		CategoryID        *uuid.UUID  `json:"category_id"`
		Template          *mTemplate  `json:"template"`
		Name              string      `json:"name"`
		Description       string      `json:"description"`
		Objective         string      `json:"objective"`
		Procedure         string      `json:"procedure"`
		Prerequisites     string      `json:"prerequisites"`
		Cleanup           string      `json:"cleanup"`
		ExpectedDetection string      `json:"expected_detection"`
		Platforms         []string    `json:"platforms"`
		OpsecLevel        string      `json:"opsec_level"`
		State             string      `json:"state"`
		StateReason       string      `json:"state_reason"`
		ReleasedToBlue    bool        `json:"released_to_blue"`
		Tags              []mTag      `json:"tags"`
		Red               mRed        `json:"red"`
		Blue              mBlue       `json:"blue"`
		Outcomes          []mOutcome  `json:"outcomes"`
		Review            mReview     `json:"review"`
		Evidence          []mEvidence `json:"evidence"`
		CreatedAt         string      `json:"created_at"`
		UpdatedAt         string      `json:"updated_at"`
	}
)

// sha256Hex is the shape of a SHA-256 as the archive names files.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// check validates what the database's own checks would refuse less
// clearly: enum values, instants, dates, references between the
// manifest's parts, ids given twice. Text lengths are the schema's
// validators' at import (a value past its column is refused then).
func (m *Manifest) check() error {
	bad := func(field string) error { return refuse("manifest", field) }
	if m.Mission.ID == uuid.Nil || m.Mission.Name == "" {
		return bad("mission")
	}
	if mission.StatusValidator(mission.Status(m.Mission.Status)) != nil {
		return bad("mission.status")
	}
	for _, d := range []*string{m.Mission.StartDate, m.Mission.EndDate} {
		if d != nil {
			if _, err := time.Parse(time.DateOnly, *d); err != nil {
				return bad("mission dates")
			}
		}
	}
	if !instant(m.Mission.CreatedAt) || !instant(m.Mission.UpdatedAt) {
		return bad("mission times")
	}
	for _, t := range m.Mission.Tools {
		if t.Name == "" || defensivetool.KindValidator(defensivetool.Kind(t.Kind)) != nil {
			return bad("mission.tools")
		}
	}
	for _, mm := range m.Members {
		if mm.Email == "" || missionmember.RoleValidator(missionmember.Role(mm.Role)) != nil {
			return bad("members")
		}
	}
	ids := map[uuid.UUID]bool{m.Mission.ID: true}
	fresh := func(id uuid.UUID) bool {
		if id == uuid.Nil || ids[id] {
			return false
		}
		ids[id] = true
		return true
	}
	groups := map[uuid.UUID]bool{}
	for _, g := range append(append([]mGroup{}, m.Categories...), m.Scenarios...) {
		if !fresh(g.ID) || g.Name == "" || (g.Colour != "" && !hexColour(g.Colour)) {
			return bad("categories and scenarios")
		}
		groups[g.ID] = true
	}
	for _, l := range m.DetectionLevels {
		if l.Name == "" || l.Score < 0 || l.Score > 100 {
			return bad("detection_levels")
		}
	}
	m.evidence = map[string]bool{}
	for i := range m.Tests {
		t := &m.Tests[i]
		switch {
		case !fresh(t.ID) || t.Name == "":
			return bad("tests: id")
		case missiontest.StateValidator(missiontest.State(t.State)) != nil:
			return bad("tests: state")
		case missiontest.OpsecLevelValidator(missiontest.OpsecLevel(t.OpsecLevel)) != nil:
			return bad("tests: opsec_level")
		case t.ScenarioID != nil && !groups[*t.ScenarioID], t.CategoryID != nil && !groups[*t.CategoryID]:
			return bad("tests: scenario or category")
		case t.Template != nil && (t.Template.Name == "" || testtemplate.SourceValidator(testtemplate.Source(t.Template.Source)) != nil):
			return bad("tests: template")
		case !instant(t.CreatedAt) || !instant(t.UpdatedAt) || !optInstant(t.Red.StartedAt) || !optInstant(t.Red.EndedAt) ||
			!optInstant(t.Blue.DetectedAt) || !optInstant(t.Review.ReviewedAt):
			return bad("tests: times")
		case t.Blue.DetectionLevel != nil && t.Blue.DetectionLevel.Name == "":
			return bad("tests: detection_level")
		}
		for _, g := range t.Tags {
			if g.ExternalID == "" || g.Name == "" || missiontestmitretag.KindValidator(missiontestmitretag.Kind(g.Kind)) != nil {
				return bad("tests: tags")
			}
		}
		untooled := 0
		tools := map[string]bool{}
		for _, o := range t.Outcomes {
			if !optInstant(o.DetectedAt) {
				return bad("tests: outcomes")
			}
			if o.Tool == nil {
				if untooled++; untooled > 1 {
					return bad("tests: outcomes")
				}
				continue
			}
			if *o.Tool == "" || tools[*o.Tool] {
				return bad("tests: outcomes")
			}
			tools[*o.Tool] = true
		}
		for _, e := range t.Evidence {
			switch {
			case !fresh(e.ID), e.Name == "", !sha256Hex.MatchString(e.SHA256), e.Size < 0, !instant(e.UploadedAt):
				return bad("tests: evidence")
			case evidencefile.SideValidator(evidencefile.Side(e.Side)) != nil:
				return bad("tests: evidence side")
			}
			m.evidence[e.SHA256] = true
		}
	}
	return nil
}

// instant parses an RFC 3339 instant.
func instant(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

func optInstant(s *string) bool { return s == nil || instant(*s) }

// at is an instant the manifest holds (check made sure it parses).
func at(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t.UTC()
}

func optAt(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t := at(*s)
	return &t
}

func optDate(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, _ := time.Parse(time.DateOnly, *s)
	return &t
}
