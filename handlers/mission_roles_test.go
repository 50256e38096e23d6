package handlers_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/internal/paths"
)

// TestMissionRoutesServeTheirDeclaredRoles holds every mission route to the mission roles it
// declares in the route table: each member role not declared is refused
// (403, or 404 where the route hides the thing), each declared one is
// let through (any answer but 403 and a 5xx). A route about one mission
// must declare its roles; only restoring a mission from the trash is
// about the trash, not the mission.
func TestMissionRoutesServeTheirDeclaredRoles(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	members := []string{"lead", "red", "blue", "observer"}
	for _, r := range w.app.Routes() {
		if !strings.HasPrefix(r.Path, paths.Mission) || r.Path == paths.MissionRestore {
			continue
		}
		if len(r.MissionRoles) == 0 {
			t.Errorf("%s %s: a mission route declares no mission role", r.Method, r.Path)
			continue
		}
		for _, role := range members {
			t.Run(r.Method+" "+r.Path+"/"+role, func(t *testing.T) {
				// A mission of its own per request: some routes delete
				// or change what the next one would need.
				f := newRoleFixture(t, w, members, role)
				res := f.request(t, r.Method, r.Path, role)
				declared := slices.Contains(r.MissionRoles, role)
				switch {
				case res.Code >= 500:
					t.Errorf("as %s: status %d: %s", role, res.Code, res.Body.String())
				case declared && res.Code == http.StatusForbidden:
					t.Errorf("as %s (declared): refused with 403", role)
				case !declared && res.Code != http.StatusForbidden && res.Code != http.StatusNotFound:
					t.Errorf("as %s (not declared): status %d, want 403 or 404", role, res.Code)
				}
			})
		}
	}
}

// roleFixture is one mission with a member of each role, a category, a
// test released to blue with one evidence file (the viewer's own when
// their role uploads evidence).
type roleFixture struct {
	w        *mtWorld
	mission  uuid.UUID
	test     uuid.UUID
	category uuid.UUID
	evidence uuid.UUID
}

func newRoleFixture(t *testing.T, w *mtWorld, members []string, viewer string) *roleFixture {
	t.Helper()
	ent := w.app.Ent
	f := &roleFixture{w: w}
	f.mission = ent.Mission.Create().SetName("Roles " + uuid.NewString()[:8]).
		SetStatus("in_progress").SaveX(w.ctx).ID
	for _, role := range members {
		ent.MissionMember.Create().SetMissionID(f.mission).SetUserID(w.users[role]).
			SetRole(missionmember.Role(role)).ExecX(w.ctx)
	}
	f.category = ent.MissionCategory.Create().SetMissionID(f.mission).SetName("Initial access").
		SaveX(w.ctx).ID
	f.test = ent.MissionTest.Create().SetMissionID(f.mission).SetName("Run PowerShell").
		SetState(missiontest.StatePending).SetReleasedToBlue(true).SaveX(w.ctx).ID
	body, ct := evMultipart(t, []evFile{{name: "shot.png", data: evPNG(t, 4, 4)}}, "side", "red")
	r := httptest.NewRequest(http.MethodPost, paths.URL(paths.Evidence, f.mission, f.test), bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	// The viewer's own file when they may upload one: deleting evidence
	// is for its uploader (and leads).
	uploader := "lead"
	if viewer == "red" || viewer == "blue" {
		uploader = viewer
	}
	r.AddCookie(w.cookies[uploader])
	if res := w.app.Do(r); res.Code >= 400 {
		t.Fatalf("upload the fixture's evidence: %d %s", res.Code, res.Body.String())
	}
	f.evidence = ent.MissionTest.Query().Where(missiontest.ID(f.test)).QueryEvidence().OnlyIDX(w.ctx)
	return f
}

// request sends method on template, filled with the fixture's ids, as
// role, with a form carrying the test's version.
func (f *roleFixture) request(t *testing.T, method, template, role string) *httptest.ResponseRecorder {
	t.Helper()
	params := map[string]string{
		"id": f.mission.String(), "test": f.test.String(), "cat": f.category.String(),
		"ev": f.evidence.String(), "user": f.w.users["observer"].String(),
	}
	var segs []string
	for _, s := range strings.Split(template, "/") {
		if strings.HasPrefix(s, ":") {
			v, ok := params[s[1:]]
			if !ok {
				t.Fatalf("no value for %s in %s", s, template)
			}
			s = v
		}
		segs = append(segs, s)
	}
	path := strings.Join(segs, "/")
	cookie := f.w.cookies[role]
	if method == http.MethodGet {
		return f.w.app.GetAs(cookie, path)
	}
	version := f.w.app.Ent.MissionTest.GetX(f.w.ctx, f.test).Version
	form := url.Values{"version": {strconv.Itoa(version)}}
	return f.w.app.PostAs(cookie, path, form)
}
