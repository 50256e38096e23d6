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
	"violet/internal/export"
)

// Manifest is manifest.json as the import reads it: the JSON export's
// document, decoded into the very types the export writes
// (export.Document; docs/archive.md describes every field). Unknown fields
// are ignored, so a later version 1 that adds one still imports. The ids
// are strings there: check parses them, and the import uses the parsed
// ones (idOf, missionID).
type Manifest struct {
	export.Document
	evidence  map[string]bool      // the SHA-256 of every file named
	ids       map[string]uuid.UUID // every id the manifest gives, parsed
	missionID uuid.UUID            // Mission.ID, parsed
}

// idOf is the id s parsed: check parsed every id the manifest gives.
func (m *Manifest) idOf(s string) uuid.UUID { return m.ids[s] }

// sha256Hex is the shape of a SHA-256 as the archive names files.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// check validates what the database's own checks would refuse less
// clearly: enum values, instants, dates, references between the
// manifest's parts, ids given twice. Text lengths are the schema's
// validators' at import (a value past its column is refused then).
func (m *Manifest) check() error {
	bad := func(field string) error { return refuse("manifest", field) }
	m.ids = map[string]uuid.UUID{}
	// parse parses an id the manifest gives and notes it for idOf; a
	// malformed one refuses the manifest whole, as its decoding did when
	// the reader had its own types.
	parse := func(s string) (uuid.UUID, bool) {
		id, err := uuid.Parse(s)
		if err != nil {
			return uuid.Nil, false
		}
		m.ids[s] = id
		return id, true
	}
	id, ok := parse(m.Mission.ID)
	if !ok || id == uuid.Nil || m.Mission.Name == "" {
		return bad("mission")
	}
	m.missionID = id
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
	ids := map[uuid.UUID]bool{m.missionID: true}
	fresh := func(s string) bool {
		id, ok := parse(s)
		if !ok || id == uuid.Nil || ids[id] {
			return false
		}
		ids[id] = true
		return true
	}
	groups := map[uuid.UUID]bool{}
	for _, g := range append(append([]export.DocGroup{}, m.Categories...), m.Scenarios...) {
		if !fresh(g.ID) || g.Name == "" || (g.Colour != "" && !hexColour(g.Colour)) {
			return bad("categories and scenarios")
		}
		groups[m.idOf(g.ID)] = true
	}
	// inGroup is whether a test's scenario or category id names one of
	// the manifest's (or is null).
	inGroup := func(s *string) bool {
		if s == nil {
			return true
		}
		id, ok := parse(*s)
		return ok && groups[id]
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
		case !inGroup(t.ScenarioID), !inGroup(t.CategoryID):
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
