package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/evidencefile"
	"violet/ent/missiontest"
	"violet/ent/setting"
	"violet/ent/user"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/mission"
	"violet/internal/paths"
	"violet/internal/seed"
	mtviews "violet/views/missiontest"
)

// Target is the audit target type of an evidence file.
const Target = "evidence_file"

// Deps are what the evidence workflows need.
type Deps struct {
	Ent   *ent.Client
	Store Store
	// Decodes is the process's memory budget for image decodes; nil gives
	// each upload a budget of its own (see Limits).
	Decodes *DecodeBudget
	// DecodeWait bounds the wait of a decode for its memory: as long as a
	// request may last (0: DefaultDecodeWait).
	DecodeWait time.Duration
	Now        func() time.Time // nil means time.Now
}

// Service runs the use cases of evidence files: the section of a test,
// upload, download, preview, delete, and the sweep of orphan files. Each
// takes the viewer from the context (auth.FromContext), as the ent privacy
// rules do. It is cheap to build: handlers build one per request.
type Service struct {
	d Deps
}

// NewService returns the evidence workflows over d.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

// Ref names a test, and one of its files when File is not uuid.Nil, as a
// route does (/missions/{Mission}/tests/{Test}/evidence/{File}).
type Ref struct {
	Mission, Test, File uuid.UUID
	// Access is the viewer's access to Mission when the caller has
	// already loaded it (the route's role check did); nil loads it.
	Access *mission.Access
}

// Test is a mission test as the viewer may reach it: the viewer's access
// to its mission and the test's row.
type Test struct {
	Access *mission.Access
	Test   *ent.MissionTest
}

// URL is the test's page, which the evidence addresses hang off.
func (t *Test) URL() string {
	return paths.URL(paths.MissionTest, t.Access.Mission.ID, t.Test.ID)
}

// Load returns the test of ref for the viewer: a mission the viewer may
// not see, a test of another mission or one hidden from the viewer (an
// unreleased test for blue) is not found, exactly like a missing one.
func (s *Service) Load(ctx context.Context, ref Ref) (*Test, error) {
	a := ref.Access
	if a == nil || a.Mission.ID != ref.Mission {
		var err error
		if a, err = mission.Load(ctx, s.d.Ent, auth.FromContext(ctx), ref.Mission); err != nil {
			return nil, err
		}
	}
	t, err := s.d.Ent.MissionTest.Query().
		Where(missiontest.ID(ref.Test), missiontest.MissionID(a.Mission.ID)).
		Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("load mission test: %w", err)
	}
	return &Test{Access: a, Test: t}, nil
}

// loadFile loads the test of ref and its file ref.File. A file of another
// test or mission and a deleted one are not found.
func (s *Service) loadFile(ctx context.Context, ref Ref) (*Test, *ent.EvidenceFile, error) {
	t, err := s.Load(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.d.Ent.EvidenceFile.Query().
		Where(evidencefile.ID(ref.File), evidencefile.MissionTestID(t.Test.ID)).
		Only(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load evidence: %w", err)
	}
	return t, f, nil
}

// sides lists the sides the viewer may attach files to on t, by role on
// the mission: red members and leads the red side, blue members and leads
// the blue side of released tests. Observers and people who are not
// members (admins reading every mission) attach nothing.
func sides(a *mission.Access, t *ent.MissionTest) []string {
	if !a.Viewer.Can(auth.EvidenceUpload) {
		return nil
	}
	switch a.Role {
	case rule.RoleLead:
		if t.ReleasedToBlue {
			return []string{"red", "blue"}
		}
		return []string{"red"}
	case rule.RoleRed:
		if a.CanWriteRed() {
			return []string{"red"}
		}
	case rule.RoleBlue:
		if a.CanWriteBlue() && t.ReleasedToBlue {
			return []string{"blue"}
		}
	}
	return nil
}

// canDelete: the uploader, the mission's lead, a holder of evidence.delete.
func canDelete(a *mission.Access, f *ent.EvidenceFile) bool {
	return f.UploadedByID == a.Viewer.UserID || a.Role == rule.RoleLead || a.Viewer.Can(auth.EvidenceDelete)
}

// MaxBytes reads the size limit of one evidence file from the settings
// (evidence.max_upload_bytes), or its default.
func (s *Service) MaxBytes(ctx context.Context) (int64, error) {
	n, _ := wholeNumber(seed.Settings()[seed.SettingEvidenceMaxUploadBytes])
	row, err := s.d.Ent.Setting.Query().Where(setting.Key(seed.SettingEvidenceMaxUploadBytes)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return 0, fmt.Errorf("read evidence size limit: %w", err)
	default:
		var v any
		if json.Unmarshal(row.Value, &v) == nil {
			if m, ok := wholeNumber(v); ok && m > 0 {
				n = m
			}
		}
	}
	return int64(n), nil
}

// wholeNumber reads a whole number from a decoded JSON value.
func wholeNumber(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case int:
		return x, true
	}
	return 0, false
}

// Section builds the test's evidence section: its files (with their
// uploaders: two queries) and, for the people who may upload, the size
// limit (one more).
func (s *Service) Section(ctx context.Context, t *Test) (mtviews.EvidenceSection, error) {
	a := t.Access
	sec := mtviews.EvidenceSection{Base: t.URL(), Archived: a.Archived()}
	sec.Sides = sides(a, t.Test)
	sec.CanUpload = len(sec.Sides) > 0
	if sec.CanUpload {
		sec.Side = sec.Sides[0]
		if a.Role == rule.RoleBlue {
			sec.Side = "blue"
		}
		max, err := s.MaxBytes(ctx)
		if err != nil {
			return sec, err
		}
		sec.MaxBytes = max
	}
	files, err := s.d.Ent.EvidenceFile.Query().
		Where(evidencefile.MissionTestID(t.Test.ID)).
		WithUploadedBy(func(q *ent.UserQuery) { q.Select(user.FieldDisplayName) }).
		Order(evidencefile.ByCreatedAt(), evidencefile.ByID()).
		All(ctx)
	if err != nil {
		return sec, fmt.Errorf("load evidence: %w", err)
	}
	for _, f := range files {
		item := mtviews.EvidenceItem{
			ID: f.ID.String(), Name: f.OriginalName, Caption: f.Caption, Side: string(f.Side),
			Size: f.Size, SHA256: f.Sha256, At: f.CreatedAt,
			Preview:   strings.HasPrefix(f.ContentType, "image/"),
			CanDelete: canDelete(a, f),
		}
		if u := f.Edges.UploadedBy; u != nil {
			item.Uploader = u.DisplayName
		}
		sec.Files = append(sec.Files, item)
	}
	return sec, nil
}
