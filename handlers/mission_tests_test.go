package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/detectionlevel"
	"violet/ent/mission"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	msn "violet/internal/mission"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// mtWorld is the shared world (apptest.World) with the scene of the
// mission test pages: a mission in progress with the lead, red, blue and
// observer people as members, a second mission with its own test, the
// seeded detection scale plus a retired level; the outsider and the admin
// are members of neither. Its fields are aliases the tests of several
// files reach for.
type mtWorld struct {
	*apptest.World
	app      *apptest.App
	ctx      context.Context // the system's, for fixtures and checks
	mission  uuid.UUID
	other    uuid.UUID // another mission, with its own test
	cookies  map[string]*http.Cookie
	users    map[string]uuid.UUID
	level    uuid.UUID // an active level
	retired  uuid.UUID
	otherTst uuid.UUID
}

// mtRoles are the viewers of the matrix: members by role, then an
// operator who is not a member (mission hidden) and an admin who is not
// one either (mission.read_all, mission.manage).
var mtRoles = []string{"lead", "red", "blue", "observer", "outsider", "admin"}

func newMTWorld(t testing.TB, opts ...apptest.Option) *mtWorld {
	t.Helper()
	world := apptest.NewWorldOf(t, mtRoles, opts...)
	w := &mtWorld{World: world, app: world.App, ctx: world.Sys(),
		cookies: map[string]*http.Cookie{}, users: map[string]uuid.UUID{}}
	for _, role := range mtRoles {
		w.cookies[role], w.users[role] = world.Cookie(role), world.User(role)
	}
	w.mission = world.Mission(t, "Operation Violet", mission.StatusInProgress)
	w.other = world.Mission(t, "Other mission")
	w.otherTst = world.Test(t, w.other, apptest.TestOpts{Name: "Elsewhere", Released: true})
	w.level = w.Ent.DetectionLevel.Query().Where(detectionlevel.Retired(false)).
		Order(detectionlevel.ByPosition()).FirstIDX(w.ctx)
	w.retired = w.Ent.DetectionLevel.Create().SetName("Old level").SetScore(10).SetColour("#777777").
		SetRetired(true).SaveX(w.ctx).ID
	return w
}

// mk creates a test of the mission in state, released to blue or not,
// with a tag and markdown copied from its template.
func (w *mtWorld) mk(t testing.TB, state missiontest.State, released bool) uuid.UUID {
	t.Helper()
	return w.Test(t, w.mission, apptest.TestOpts{Name: "Run PowerShell", State: state, Released: released,
		Procedure: "Run **encoded** commands", Objective: "Check script logging",
		Technique: "T1059.001", TechniqueName: "PowerShell"})
}

func (w *mtWorld) get(id uuid.UUID) *ent.MissionTest {
	return w.Ent.MissionTest.GetX(w.ctx, id)
}

func (w *mtWorld) url(id uuid.UUID, action string) string {
	u := "/missions/" + w.mission.String() + "/tests/" + id.String()
	if action != "" {
		u += "/" + action
	}
	return u
}

// act is the step of an action's form sent as role; the version is the
// test's current one unless the form has its own (set in form).
func (w *mtWorld) act(role string, id uuid.UUID, action string, form url.Values) apptest.Step {
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("version") {
		form.Set("version", strconv.Itoa(w.get(id).Version))
	}
	return apptest.Step{As: role, Path: w.url(id, action), Form: form}
}

// unchanged is the Rows key counting the test id while it is at version
// 1: it drops by one when the test is saved.
func unchanged(id uuid.UUID) string {
	return "mission_tests WHERE id = " + apptest.Lit(id) + " AND version = 1"
}

// post sends an action's form as role, as act builds it.
func (w *mtWorld) post(role string, id uuid.UUID, action string, form url.Values, header ...string) *httptest.ResponseRecorder {
	s := w.act(role, id, action, form)
	return w.app.PostAs(w.cookies[role], s.Path, s.Form, header...)
}

func TestMissionTestPageByRole(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	unreleased := w.mk(t, missiontest.StatePending, false)
	released := w.mk(t, missiontest.StateExecuted, true)
	for _, tc := range []struct {
		name, role string
		id         uuid.UUID
		status     int
		redForm    bool // the red form is offered
		blueForm   bool // the blue form is offered
		review     bool // review or reopen is offered
	}{
		{"lead sees an unreleased test, edits red", "lead", unreleased, 200, true, false, false},
		{"lead reviews an executed test", "lead", released, 200, true, true, true},
		{"red edits red only", "red", released, 200, true, false, false},
		{"blue edits blue on a released test", "blue", released, 200, false, true, false},
		{"blue does not see an unreleased test", "blue", unreleased, 404, false, false, false},
		{"observer reads only", "observer", released, 200, false, false, false},
		{"outsider does not see the mission", "outsider", released, 404, false, false, false},
		{"admin non-member does everything", "admin", released, 200, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := w.app.GetAs(w.cookies[tc.role], w.url(tc.id, ""))
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			d := doc(t, resp)
			if got := testid(d, "mission-test-name"); got != "Run PowerShell" {
				t.Errorf("name %q", got)
			}
			if got := testid(d, "mission-test-tag"); !strings.Contains(got, "T1059.001") || !strings.Contains(got, "PowerShell") {
				t.Errorf("tag %q", got)
			}
			if d.Find(`[data-testid="mission-test-procedure"] strong`).Text() != "encoded" {
				t.Errorf("procedure markdown not rendered")
			}
			if got := d.Find(`[data-testid="mission-test-red-form"]`).Length() == 1; got != tc.redForm {
				t.Errorf("red form offered %v, want %v", got, tc.redForm)
			}
			if !tc.redForm && d.Find(`[data-testid="mission-test-red-values"]`).Length() != 1 {
				t.Errorf("read-only red values missing")
			}
			if got := d.Find(`[data-testid="mission-test-blue-form"]`).Length() == 1; got != tc.blueForm {
				t.Errorf("blue form offered %v, want %v", got, tc.blueForm)
			}
			review := d.Find(`[data-testid="mission-test-review-submit"], [data-testid="mission-test-reopen"]`).Length() > 0
			if review != tc.review {
				t.Errorf("review offered %v, want %v", review, tc.review)
			}
		})
	}
	t.Run("another mission's test is not found", func(t *testing.T) {
		u := "/missions/" + w.mission.String() + "/tests/" + w.otherTst.String()
		for _, role := range []string{"lead", "admin"} {
			w.Do(t, apptest.Step{As: role, Path: u, Status: 404})
			w.Do(t, apptest.Step{As: role, Path: u + "/release", Form: url.Values{"version": {"1"}}, Status: 404,
				Rows: apptest.Rows{unchanged(w.otherTst): 0}})
		}
		if !w.get(w.otherTst).ReleasedToBlue || w.get(w.otherTst).Version != 1 {
			t.Error("the other mission's test changed")
		}
	})
	t.Run("malformed ids are not found", func(t *testing.T) {
		w.Run(t,
			apptest.Step{As: "lead", Path: "/missions/" + w.mission.String() + "/tests/nope", Status: 404},
			apptest.Step{As: "lead", Path: "/missions/nope/tests/" + released.String(), Status: 404},
		)
	})
}

// TestMissionTestRoleMatrix asks every action as every role on a fresh
// test in the state the action needs, and checks both the status and
// whether the test changed. The red side's routes are refused to blue
// members by the route table's roles before any test is looked up, so a
// hidden test and a visible one (or none at all) answer alike: 403.
func TestMissionTestRoleMatrix(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	blueForm := url.Values{"detection_level": {""}, "alert_name": {"EDR: encoded PowerShell"}}
	actions := []struct {
		action   string
		state    missiontest.State
		released bool
		form     url.Values
		want     map[string]int // by role; 303 = done
	}{
		{"start", missiontest.StatePending, false, nil,
			map[string]int{"lead": 303, "red": 303, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
		{"start", missiontest.StatePending, true, nil, // blue sees it, but red fields are not theirs
			map[string]int{"blue": 403}},
		{"stop", missiontest.StateRunning, false, nil,
			map[string]int{"lead": 303, "red": 303, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
		{"red", missiontest.StateRunning, true, url.Values{"command": {"powershell -enc AAAA"}},
			map[string]int{"lead": 303, "red": 303, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
		{"release", missiontest.StateExecuted, false, nil,
			map[string]int{"lead": 303, "red": 303, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
		{"set-aside", missiontest.StatePending, false, url.Values{"state": {"blocked"}, "reason": {"host down"}},
			map[string]int{"lead": 303, "red": 303, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
		{"blue", missiontest.StateExecuted, true, blueForm,
			map[string]int{"lead": 303, "red": 403, "blue": 303, "observer": 403, "outsider": 404, "admin": 303}},
		{"blue", missiontest.StateExecuted, false, blueForm, // unreleased: invisible to blue, refused to leads
			map[string]int{"lead": 409, "red": 403, "blue": 404, "admin": 409}},
		{"review", missiontest.StateExecuted, true, nil,
			map[string]int{"lead": 303, "red": 403, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
		{"reopen", missiontest.StateReviewed, true, nil,
			map[string]int{"lead": 303, "red": 403, "blue": 403, "observer": 403, "outsider": 404, "admin": 303}},
	}
	for _, a := range actions {
		for _, role := range mtRoles {
			want, ok := a.want[role]
			if !ok {
				continue
			}
			name := a.action + "/" + string(a.state) + "/released=" + strconv.FormatBool(a.released) + "/" + role
			t.Run(name, func(t *testing.T) {
				id := w.mk(t, a.state, a.released)
				form := url.Values{}
				for k, v := range a.form {
					form[k] = v
				}
				step := w.act(role, id, a.action, form)
				step.Status, step.Rows = want, apptest.Rows{unchanged(id): 0} // refused: the test did not change
				if want == 303 {
					step.Rows[unchanged(id)] = -1 // done: the test changed
				}
				w.Do(t, step)
			})
		}
	}
}

// TestMissionTestFieldLevel checks that a role's form cannot carry the
// other side's fields: extra fields are ignored, the other side's form is
// refused, and the ent privacy rule refuses the same writes on its own.
func TestMissionTestFieldLevel(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StateExecuted, true)
	// Red posts blue fields to the blue form: 403, nothing changes.
	resp := w.post("red", id, "blue", url.Values{"alert_name": {"forged"}, "detection_level": {w.level.String()}})
	if resp.Code != 403 {
		t.Fatalf("red → blue form: status %d", resp.Code)
	}
	// Red posts blue fields along with the red form: only red fields change.
	resp = w.post("red", id, "red", url.Values{"command": {"whoami"}, "alert_name": {"forged"},
		"detection_level": {w.level.String()}, "blue_notes": {"forged"}})
	if resp.Code != 303 {
		t.Fatalf("red form: status %d\n%s", resp.Code, resp.Body)
	}
	got := w.get(id)
	if got.Command != "whoami" || got.AlertName != "" || got.DetectionLevelID != nil || got.BlueNotes != "" {
		t.Errorf("after red save: command %q alert %q level %v notes %q", got.Command, got.AlertName, got.DetectionLevelID, got.BlueNotes)
	}
	// Blue posts red fields along with the blue form: only blue fields change.
	resp = w.post("blue", id, "blue", url.Values{"alert_name": {"EDR rule 12"}, "command": {"forged"},
		"source_host": {"forged"}, "red_notes": {"forged"}})
	if resp.Code != 303 {
		t.Fatalf("blue form: status %d\n%s", resp.Code, resp.Body)
	}
	got = w.get(id)
	if got.AlertName != "EDR rule 12" || got.Command != "whoami" || got.SourceHost != "" || got.RedNotes != "" {
		t.Errorf("after blue save: alert %q command %q host %q notes %q", got.AlertName, got.Command, got.SourceHost, got.RedNotes)
	}
	// Blue cannot use the red actions on a test it sees.
	for _, action := range []string{"red", "release", "set-aside"} {
		step := w.act("blue", id, action, url.Values{"command": {"forged"}, "state": {"skipped"}, "reason": {"x"}})
		step.Status, step.Rows = 403, apptest.Rows{"mission_tests WHERE id = " + apptest.Lit(id) + " AND version = " + step.Form.Get("version"): 0}
		w.Do(t, step)
	}
}

// TestMissionTestWorkflow walks a test through the routes, each step by
// the role that does it, and the refused transitions at each state.
func TestMissionTestWorkflow(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StatePending, false)
	refuse := func(t *testing.T, role, action string) {
		t.Helper()
		before := w.get(id)
		// A valid form for every action: only the state refuses it.
		resp := w.post(role, id, action, url.Values{"state": {"skipped"}, "reason": {"late"}})
		if resp.Code != 409 {
			t.Errorf("%s %s in state %s: status %d, want 409", role, action, before.State, resp.Code)
			return
		}
		d := doc(t, resp)
		if d.Find(`[data-testid="mission-test-notice"][data-notice="error"]`).Length() != 1 {
			t.Errorf("%s %s: no refusal notice", role, action)
		}
		if after := w.get(id); after.Version != before.Version || after.State != before.State {
			t.Errorf("%s %s: test changed", role, action)
		}
	}
	step := func(t *testing.T, role, action string, form url.Values, want missiontest.State) {
		t.Helper()
		resp := w.post(role, id, action, form)
		if resp.Code != 303 || resp.Header().Get("Location") != w.url(id, "") {
			t.Fatalf("%s %s: status %d to %q\n%s", role, action, resp.Code, resp.Header().Get("Location"), resp.Body)
		}
		if got := w.get(id).State; got != want {
			t.Fatalf("%s %s: state %s, want %s", role, action, got, want)
		}
	}
	refuse(t, "red", "stop")
	refuse(t, "lead", "review")
	refuse(t, "lead", "reopen")
	step(t, "red", "start", nil, missiontest.StateRunning)
	if got := w.get(id); got.StartedAt == nil || got.ExecutedByID == nil || *got.ExecutedByID != w.users["red"] {
		t.Errorf("start recorded %v by %v", got.StartedAt, got.ExecutedByID)
	}
	refuse(t, "red", "start")
	refuse(t, "lead", "review")
	step(t, "red", "stop", nil, missiontest.StateExecuted)
	if got := w.get(id); got.EndedAt == nil || got.EndedAt.Before(*got.StartedAt) {
		t.Errorf("stop recorded %v", got.EndedAt)
	}
	refuse(t, "red", "stop")
	refuse(t, "red", "set-aside")
	step(t, "red", "red", url.Values{"command": {"powershell -enc SQBFAFgA"}, "source_host": {" ws01 "},
		"target_host": {"dc01"}, "red_notes": {"ran twice"}}, missiontest.StateExecuted)
	step(t, "red", "release", nil, missiontest.StateExecuted)
	if resp := w.app.GetAs(w.cookies["blue"], w.url(id, "")); resp.Code != 200 {
		t.Fatalf("blue after release: %d", resp.Code)
	}
	started := w.get(id).StartedAt.UTC()
	step(t, "blue", "blue", url.Values{"detection_level": {w.level.String()},
		"detected_at": {started.Add(3 * time.Minute).Format("2006-01-02T15:04")},
		"alert_name":  {"Encoded PowerShell"}, "log_source": {"Sysmon"}, "blue_notes": {"seen"}}, missiontest.StateExecuted)
	got := w.get(id)
	if got.SourceHost != "ws01" || got.Command != "powershell -enc SQBFAFgA" || !got.ReleasedToBlue ||
		got.DetectionLevelID == nil || *got.DetectionLevelID != w.level || got.DetectedAt == nil || got.LogSource != "Sysmon" {
		t.Fatalf("saved %+v", got)
	}
	step(t, "lead", "review", nil, missiontest.StateReviewed)
	if got := w.get(id); got.ReviewedByID == nil || *got.ReviewedByID != w.users["lead"] || got.ReviewedAt == nil {
		t.Errorf("review recorded %v at %v", got.ReviewedByID, got.ReviewedAt)
	}
	events := w.app.Ent.AuditEvent.Query().Where(auditevent.Action("mission_test.reviewed"), auditevent.TargetID(id.String())).AllX(w.ctx)
	if len(events) != 1 || events[0].ActorID == nil || *events[0].ActorID != w.users["lead"] || events[0].TargetType != "mission_test" {
		t.Errorf("review audit events: %+v", events)
	}
	refuse(t, "lead", "review")
	refuse(t, "red", "start")
	// The page tells who ran and reviewed it.
	d := doc(t, w.app.GetAs(w.cookies["observer"], w.url(id, "")))
	if got := testid(d, "mission-test-reviewed"); !strings.Contains(got, "lead") {
		t.Errorf("reviewed by %q", got)
	}
	if got := testid(d, "mission-test-started"); !strings.Contains(got, "red") {
		t.Errorf("started %q", got)
	}
	if n := d.Find(`[data-testid="mission-test-event"]`).Length(); n < 4 {
		t.Errorf("%d history events", n)
	}
	step(t, "lead", "reopen", nil, missiontest.StateExecuted)
	if got := w.get(id); got.ReviewedByID != nil || got.ReviewedAt != nil {
		t.Errorf("reopen kept the review")
	}
	// Reviewed again, by someone else: the history keeps both reviews
	// (from the audit log), the record only the last.
	step(t, "admin", "review", nil, missiontest.StateReviewed)
	var reviews []string
	doc(t, w.app.GetAs(w.cookies["blue"], w.url(id, ""))).
		Find(`[data-testid="mission-test-event"][data-key="missions.test.event_reviewed"]`).
		Each(func(_ int, s *goquery.Selection) {
			if s.AttrOr("data-audited", "") == "true" {
				reviews = append(reviews, strings.TrimSpace(s.Text()))
			}
		})
	if len(reviews) != 2 || !strings.HasSuffix(reviews[0], "reviewed by lead") || !strings.HasSuffix(reviews[1], "reviewed by admin") {
		t.Errorf("history of reviews %q", reviews)
	}

	t.Run("set aside with a reason, reopen", func(t *testing.T) {
		id = w.mk(t, missiontest.StatePending, false)
		resp := w.post("red", id, "set-aside", url.Values{"state": {"skipped"}, "reason": {"   "}})
		if resp.Code != 422 || testid(doc(t, resp), "error-reason") == "" || w.get(id).Version != 1 {
			t.Fatalf("blank reason: status %d", resp.Code)
		}
		if resp := w.post("red", id, "set-aside", url.Values{"state": {"done"}, "reason": {"x"}}); resp.Code != 400 {
			t.Errorf("unknown state: status %d", resp.Code)
		}
		step(t, "red", "set-aside", url.Values{"state": {"skipped"}, "reason": {"out of scope"}}, missiontest.StateSkipped)
		if got := w.get(id).StateReason; got != "out of scope" {
			t.Errorf("reason %q", got)
		}
		refuse(t, "red", "start")
		refuse(t, "red", "set-aside")
		if resp := w.post("red", id, "reopen", nil); resp.Code != 403 {
			t.Errorf("red reopen: %d", resp.Code)
		}
		step(t, "lead", "reopen", nil, missiontest.StatePending)
		step(t, "red", "start", nil, missiontest.StateRunning)
		step(t, "red", "set-aside", url.Values{"state": {"blocked"}, "reason": {"EDR killed it"}}, missiontest.StateBlocked)
	})
}

// TestMissionTestValidation: invalid input is 422 with the error next to
// its field and the input kept; nothing is saved.
func TestMissionTestValidation(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StateExecuted, true) // started 2026-03-14 09:30 UTC
	long := strings.Repeat("h", 256)
	for _, tc := range []struct {
		name, role, action string
		form               url.Values
		field, kept        string // the field in error; an input value kept
	}{
		{"host too long", "red", "red", url.Values{"source_host": {long}, "command": {"id -a"}}, "source_host", "id -a"},
		{"host with a line break", "red", "red", url.Values{"target_host": {"a\nb"}}, "target_host", ""},
		{"command too long", "lead", "red", url.Values{"command": {strings.Repeat("x", 20001)}}, "command", ""},
		{"unknown level", "blue", "blue", url.Values{"detection_level": {uuid.NewString()}, "alert_name": {"kept"}}, "detection_level", "kept"},
		{"malformed level", "blue", "blue", url.Values{"detection_level": {"high"}}, "detection_level", ""},
		{"retired level", "blue", "blue", url.Values{"detection_level": {w.retired.String()}}, "detection_level", ""},
		{"unparseable time", "blue", "blue", url.Values{"detected_at": {"yesterday"}, "log_source": {"Sysmon"}}, "detected_at", "Sysmon"},
		{"detection before start", "blue", "blue", url.Values{"detected_at": {"2026-03-14T09:29"}}, "detected_at", "2026-03-14T09:29"},
		{"alert name too long", "blue", "blue", url.Values{"alert_name": {strings.Repeat("a", 301)}}, "alert_name", ""},
		{"reason too long", "red", "set-aside", url.Values{"state": {"skipped"}, "reason": {strings.Repeat("r", 2001)}}, "reason", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := id
			if tc.action == "set-aside" {
				id = w.mk(t, missiontest.StatePending, false)
			}
			before := w.get(id).Version
			resp := w.post(tc.role, id, tc.action, tc.form)
			if resp.Code != 422 {
				t.Fatalf("status %d, want 422", resp.Code)
			}
			d := doc(t, resp)
			if testid(d, "error-"+tc.field) == "" {
				t.Errorf("no error next to %s", tc.field)
			}
			if d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("no error summary")
			}
			if tc.kept != "" && !strings.Contains(resp.Body.String(), tc.kept) {
				t.Errorf("input %q not kept", tc.kept)
			}
			if w.get(id).Version != before {
				t.Errorf("saved despite the errors")
			}
		})
	}
	t.Run("detection in the start minute and a retired level already saved are accepted", func(t *testing.T) {
		w.app.Ent.MissionTest.UpdateOneID(id).SetDetectionLevelID(w.retired).ExecX(w.ctx)
		resp := w.post("blue", id, "blue", url.Values{"detection_level": {w.retired.String()}, "detected_at": {"2026-03-14T09:30"}})
		if resp.Code != 303 {
			t.Fatalf("status %d\n%s", resp.Code, resp.Body)
		}
		if got := w.get(id); got.DetectedAt == nil || !got.DetectedAt.Equal(time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)) {
			t.Errorf("detected at %v, want 09:30 UTC", got.DetectedAt)
		}
	})
}

// TestMissionTestConflict: a save of a version someone else has saved
// since is 409, changes nothing, keeps the input and shows what was saved.
func TestMissionTestConflict(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StateExecuted, true)
	for _, tc := range []struct {
		name, action, first, second string
		firstForm, secondForm       url.Values
		savedID, mine, theirs       string
		check                       func(*ent.MissionTest) bool
		header                      []string
	}{
		{name: "red side", action: "red", first: "red", second: "lead",
			firstForm: url.Values{"command": {"whoami /all"}}, secondForm: url.Values{"command": {"net user"}},
			savedID: "saved-command", mine: "net user", theirs: "whoami /all",
			check: func(m *ent.MissionTest) bool { return m.Command == "whoami /all" }},
		{name: "blue side, htmx", action: "blue", first: "blue", second: "lead",
			firstForm: url.Values{"alert_name": {"Rule 7"}}, secondForm: url.Values{"alert_name": {"Rule 9"}},
			savedID: "saved-alert_name", mine: "Rule 9", theirs: "Rule 7",
			check:  func(m *ent.MissionTest) bool { return m.AlertName == "Rule 7" },
			header: []string{"HX-Request", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := strconv.Itoa(w.get(id).Version)
			tc.firstForm.Set("version", seen)
			if resp := w.post(tc.first, id, tc.action, tc.firstForm); resp.Code != 303 {
				t.Fatalf("first save: %d", resp.Code)
			}
			tc.secondForm.Set("version", seen)
			resp := w.post(tc.second, id, tc.action, tc.secondForm, tc.header...)
			if resp.Code != 409 {
				t.Fatalf("stale save: status %d, want 409", resp.Code)
			}
			if !tc.check(w.get(id)) {
				t.Errorf("the stale save overwrote the first one")
			}
			body := resp.Body.String()
			if len(tc.header) > 0 && strings.Contains(body, "<html") {
				t.Errorf("htmx got a whole page")
			}
			d := doc(t, resp)
			if !strings.Contains(testid(d, tc.savedID), tc.theirs) {
				t.Errorf("saved value %q not shown: %q", tc.theirs, testid(d, tc.savedID))
			}
			if !strings.Contains(body, tc.mine) {
				t.Errorf("input %q not kept", tc.mine)
			}
			if v, _ := d.Find(`#mission-test-work`).Attr("data-version"); v != strconv.Itoa(w.get(id).Version) {
				t.Errorf("the form carries version %s, the test is at %d", v, w.get(id).Version)
			}
			if d.Find(`[data-testid="mission-test-notice"][data-notice="conflict"]`).Length() != 1 {
				t.Errorf("no conflict notice")
			}
		})
	}
	executed := "mission_tests WHERE id = " + apptest.Lit(id) + " AND state = 'executed'"
	t.Run("stale action", func(t *testing.T) {
		w.Do(t, apptest.Step{Name: "stale review", As: "lead", Path: w.url(id, "review"), Form: url.Values{"version": {"1"}},
			Status: 409, Rows: apptest.Rows{executed: 0}})
	})
	t.Run("version is required", func(t *testing.T) {
		for _, v := range []string{"", "0", "x"} {
			w.Do(t, apptest.Step{Name: "version " + v, As: "lead", Path: w.url(id, "review"), Form: url.Values{"version": {v}}, Status: 400})
		}
	})
}

// TestMissionTestHTMX: an action from the page swaps the work block, with
// the new version in every form.
func TestMissionTestHTMX(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StatePending, false)
	resp := w.post("red", id, "start", nil, "HX-Request", "true")
	if resp.Code != 200 {
		t.Fatalf("status %d", resp.Code)
	}
	body := resp.Body.String()
	if strings.Contains(body, "<html") || !strings.HasPrefix(strings.TrimSpace(body), `<div id="mission-test-work"`) {
		t.Fatalf("not the work fragment: %.200s", body)
	}
	d := doc(t, resp)
	if got, _ := d.Find("#mission-test-work").Attr("data-state"); got != "running" {
		t.Errorf("state %q", got)
	}
	n := 0
	d.Find(`form[method="post"]`).Each(func(_ int, s *goquery.Selection) {
		n++
		if v := s.Find(`input[name="version"]`).AttrOr("value", ""); v != "2" {
			t.Errorf("form %s carries version %q", s.AttrOr("data-testid", ""), v)
		}
	})
	if n < 2 {
		t.Errorf("%d forms carry the version", n)
	}
	if d.Find(`[data-testid="mission-test-stop"]`).Length() != 1 || d.Find(`[data-testid="mission-test-start"]`).Length() != 0 {
		t.Errorf("the buttons do not follow the state")
	}
}

// TestMissionTestArchived: an archived mission's tests read, never change.
func TestMissionTestArchived(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	id := w.mk(t, missiontest.StateExecuted, true)
	w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusArchived).ExecX(w.ctx)
	w.Do(t, apptest.Step{Name: "the page offers no forms", As: "lead", Path: w.url(id, ""),
		TestIDs: []string{"mission-test-archived"}, NoTestIDs: []string{"form[action*='/tests/']"}})
	for _, tc := range []struct {
		role, action string
		form         url.Values
		want         int
	}{
		{"lead", "red", url.Values{"command": {"x"}}, 409},
		{"lead", "blue", url.Values{"alert_name": {"x"}}, 409},
		{"lead", "review", nil, 409},
		{"admin", "release", nil, 409},
		{"blue", "blue", url.Values{"alert_name": {"x"}}, 409},
		{"observer", "red", nil, 403},
	} {
		step := w.act(tc.role, id, tc.action, tc.form)
		step.Status, step.Rows = tc.want, apptest.Rows{unchanged(id): 0} // an archived mission's test never changes
		w.Do(t, step)
	}
}

// TestMissionTestStepSavesRedInput: Start, Stop and Release are buttons
// of the red form, so they send what the operator typed; it is saved with
// the step, in one transaction, each audited. Unchanged fields record no
// save.
func TestMissionTestStepSavesRedInput(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	audited := func(id uuid.UUID, action string) int {
		return w.app.Ent.AuditEvent.Query().Where(auditevent.Action(action), auditevent.TargetID(id.String())).CountX(w.ctx)
	}
	for _, tc := range []struct {
		action string
		from   missiontest.State
		check  func(*ent.MissionTest) bool
		hx     bool
	}{
		{"start", missiontest.StatePending, func(m *ent.MissionTest) bool { return m.State == missiontest.StateRunning }, false},
		{"stop", missiontest.StateRunning, func(m *ent.MissionTest) bool { return m.State == missiontest.StateExecuted }, true},
		{"release", missiontest.StateExecuted, func(m *ent.MissionTest) bool { return m.ReleasedToBlue }, true},
	} {
		t.Run(tc.action, func(t *testing.T) {
			id := w.mk(t, tc.from, false)
			var header []string
			if tc.hx {
				header = []string{"HX-Request", "true"}
			}
			resp := w.post("red", id, tc.action, url.Values{"command": {"whoami /all"}, "source_host": {" ws01 "},
				"target_host": {"dc01"}, "red_notes": {"typed before " + tc.action}}, header...)
			if want := map[bool]int{false: 303, true: 200}[tc.hx]; resp.Code != want {
				t.Fatalf("status %d, want %d\n%s", resp.Code, want, resp.Body)
			}
			got := w.get(id)
			if !tc.check(got) || got.Command != "whoami /all" || got.SourceHost != "ws01" || got.TargetHost != "dc01" ||
				got.RedNotes != "typed before "+tc.action || got.Version != 3 {
				t.Errorf("saved state %s command %q hosts %q/%q notes %q version %d", got.State, got.Command,
					got.SourceHost, got.TargetHost, got.RedNotes, got.Version)
			}
			if tc.hx {
				d := doc(t, resp)
				if got := d.Find("#field-red_notes").Text(); got != "typed before "+tc.action {
					t.Errorf("the swapped form shows notes %q", got)
				}
				if v, _ := d.Find("#mission-test-work").Attr("data-version"); v != "3" {
					t.Errorf("the swapped block carries version %s, want 3", v)
				}
			}
			if audited(id, "mission_test.red_saved") != 1 {
				t.Errorf("%d red saves audited, want 1", audited(id, "mission_test.red_saved"))
			}
		})
	}
	t.Run("unchanged fields record no save", func(t *testing.T) {
		id := w.mk(t, missiontest.StatePending, false)
		w.app.Ent.MissionTest.UpdateOneID(id).SetCommand("id").ExecX(w.ctx)
		resp := w.post("red", id, "start", url.Values{"command": {"id"}, "source_host": {""}, "target_host": {""}, "red_notes": {""}})
		if got := w.get(id); resp.Code != 303 || got.State != missiontest.StateRunning || got.Version != 2 || got.Command != "id" {
			t.Errorf("status %d, state %s, version %d, command %q", resp.Code, got.State, got.Version, got.Command)
		}
		if audited(id, "mission_test.red_saved") != 0 || audited(id, "mission_test.started") != 1 {
			t.Errorf("audited %d saves, %d starts", audited(id, "mission_test.red_saved"), audited(id, "mission_test.started"))
		}
	})
	t.Run("the page's step buttons belong to the red form", func(t *testing.T) {
		id := w.mk(t, missiontest.StatePending, false)
		d := doc(t, w.app.GetAs(w.cookies["red"], w.url(id, "")))
		for _, step := range []string{"start", "release"} {
			b := d.Find(`[data-testid="mission-test-red-form"] [data-testid="mission-test-` + step + `"]`)
			if b.Length() != 1 || b.AttrOr("formaction", "") != w.url(id, step) || b.AttrOr("hx-post", "") != w.url(id, step) {
				t.Errorf("%s is not a button of the red form posting to its route", step)
			}
		}
		if first := d.Find(`[data-testid="mission-test-red-form"] button[type="submit"]`).First(); first.AttrOr("data-testid", "") != "mission-test-red-save" {
			t.Errorf("the red form's default button is %s, want save", first.AttrOr("data-testid", ""))
		}
	})
}

// TestMissionTestStepKeepsRedInput: a step the server refuses (stale
// version, state, invalid input, archived mission) saves nothing of the
// step nor of the typed fields, and sends the typed fields back, marked
// unsaved.
func TestMissionTestStepKeepsRedInput(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	typed := url.Values{"command": {"net group \"domain admins\""}, "red_notes": {"ran from ws01"}}
	with := func(extra url.Values) url.Values {
		f := url.Values{}
		for k, v := range typed {
			f[k] = v
		}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	kept := func(t *testing.T, resp *httptest.ResponseRecorder) *goquery.Document {
		t.Helper()
		d := doc(t, resp)
		if got := d.Find("#field-command").Text(); got != typed.Get("command") {
			t.Errorf("command shown %q, want the input kept", got)
		}
		if got := d.Find("#field-red_notes").Text(); got != typed.Get("red_notes") {
			t.Errorf("notes shown %q, want the input kept", got)
		}
		if got := d.Find(`[data-testid="mission-test-red-form"]`).AttrOr("data-unsaved", ""); got != "kept" {
			t.Errorf("the kept input is marked %q, want kept (unsaved)", got)
		}
		return d
	}
	t.Run("stale version", func(t *testing.T) {
		id := w.mk(t, missiontest.StatePending, false)
		if resp := w.post("lead", id, "red", url.Values{"command": {"theirs"}}); resp.Code != 303 {
			t.Fatalf("first save: %d", resp.Code)
		}
		resp := w.post("red", id, "start", with(url.Values{"version": {"1"}}), "HX-Request", "true")
		if resp.Code != 409 {
			t.Fatalf("status %d, want 409", resp.Code)
		}
		if got := w.get(id); got.State != missiontest.StatePending || got.Command != "theirs" || got.RedNotes != "" || got.Version != 2 {
			t.Errorf("the stale step changed the test: %s %q %q v%d", got.State, got.Command, got.RedNotes, got.Version)
		}
		d := kept(t, resp)
		if !strings.Contains(testid(d, "saved-command"), "theirs") {
			t.Errorf("the value saved meanwhile is not shown")
		}
		if d.Find(`[data-testid="mission-test-notice"][data-notice="conflict"]`).Length() != 1 {
			t.Errorf("no conflict notice")
		}
	})
	t.Run("state refuses the step", func(t *testing.T) {
		id := w.mk(t, missiontest.StatePending, false)
		resp := w.post("red", id, "stop", with(nil))
		if resp.Code != 409 {
			t.Fatalf("status %d, want 409", resp.Code)
		}
		if got := w.get(id); got.State != missiontest.StatePending || got.Command != "" || got.Version != 1 {
			t.Errorf("the refused step saved: %s %q v%d", got.State, got.Command, got.Version)
		}
		kept(t, resp)
	})
	t.Run("invalid input", func(t *testing.T) {
		id := w.mk(t, missiontest.StatePending, false)
		resp := w.post("red", id, "start", with(url.Values{"source_host": {strings.Repeat("h", 256)}}))
		if resp.Code != 422 {
			t.Fatalf("status %d, want 422", resp.Code)
		}
		if got := w.get(id); got.State != missiontest.StatePending || got.Version != 1 {
			t.Errorf("started despite the invalid input: %s v%d", got.State, got.Version)
		}
		if testid(kept(t, resp), "error-source_host") == "" {
			t.Errorf("no error next to the host")
		}
	})
	t.Run("not red", func(t *testing.T) {
		id := w.mk(t, missiontest.StatePending, true)
		if resp := w.post("blue", id, "start", with(nil)); resp.Code != 403 || w.get(id).Version != 1 {
			t.Errorf("blue start: status %d", resp.Code)
		}
	})
}

// TestMissionTestDetectionTime: a detection time before the run started,
// or later than the server's clock plus the allowed skew, is 422 with the
// error next to the field, the input kept and nothing saved.
func TestMissionTestDetectionTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 30, 0, time.UTC)
	w := newMTWorld(t, apptest.WithNow(func() time.Time { return now }))
	id := w.mk(t, missiontest.StateExecuted, true) // started 2026-03-14 09:30 UTC
	for _, tc := range []struct {
		name, at, key string
	}{
		{"an hour ahead (a local time east of UTC)", "2026-03-14T13:00", "The detection cannot be in the future"},
		{"beyond the skew", "2026-03-14T12:06", "The detection cannot be in the future"},
		{"a day ahead", "2026-03-15T11:59", "The detection cannot be in the future"},
		{"a minute before the start", "2026-03-14T09:29", "The detection cannot be before the test started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := w.post("blue", id, "blue", url.Values{"detected_at": {tc.at}, "alert_name": {"Rule 7"}}, "HX-Request", "true")
			if resp.Code != 422 {
				t.Fatalf("status %d, want 422", resp.Code)
			}
			d := doc(t, resp)
			if got := testid(d, "error-detected_at"); !strings.Contains(got, tc.key) {
				t.Errorf("error next to the field %q, want %q", got, tc.key)
			}
			if got := d.Find("#field-detected_at").AttrOr("value", ""); got != tc.at {
				t.Errorf("detected_at shown %q, want the input kept", got)
			}
			if got := d.Find(`[data-testid="mission-test-blue-form"]`).AttrOr("data-unsaved", ""); got != "kept" {
				t.Errorf("the kept input is marked %q, want kept (unsaved)", got)
			}
			if got := w.get(id); got.Version != 1 || got.DetectedAt != nil || got.AlertName != "" {
				t.Errorf("saved despite the error: v%d %v %q", got.Version, got.DetectedAt, got.AlertName)
			}
		})
	}
	for _, at := range []string{"2026-03-14T12:05", "2026-03-14T09:30"} {
		t.Run("accepted "+at, func(t *testing.T) {
			resp := w.post("blue", id, "blue", url.Values{"detected_at": {at}})
			if resp.Code != 303 {
				t.Fatalf("status %d\n%s", resp.Code, resp.Body)
			}
			if got := w.get(id).DetectedAt; got == nil || got.UTC().Format("2006-01-02T15:04") != at {
				t.Errorf("detected at %v, want %s", got, at)
			}
		})
	}
}

// TestMissionTestMessagesTranslated renders the page and every answer of
// the actions (done, refused, stale, invalid) in both languages and fails
// on a message id left untranslated: the keys built at run time (states,
// notices, history) escape the catalogue test.
func TestMissionTestMessagesTranslated(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) {
			for _, role := range []string{"lead", "red", "blue"} {
				w.app.Ent.User.UpdateOneID(w.users[role]).SetLocale(user.Locale(lang)).ExecX(w.ctx)
			}
			check := func(what string, resp *httptest.ResponseRecorder) {
				t.Helper()
				if resp.Code >= 500 || resp.Code == 303 {
					t.Errorf("%s: status %d", what, resp.Code)
				}
				text := doc(t, resp).Text()
				if i := strings.Index(text, "missions.test."); i >= 0 {
					t.Errorf("%s: untranslated %.60s", what, text[i:])
				}
			}
			hx := []string{"HX-Request", "true"}
			id := w.mk(t, missiontest.StatePending, false)
			check("page", w.app.GetAs(w.cookies["lead"], w.url(id, "")))
			check("refused", w.post("red", id, "stop", nil, hx...))
			check("blue unreleased", w.post("lead", id, "blue", url.Values{"alert_name": {"x"}}, hx...))
			for _, action := range []string{"start", "stop", "red", "release", "blue", "review"} {
				check(action, w.post("lead", id, action, url.Values{"detection_level": {w.level.String()},
					"detected_at": {time.Now().UTC().Format("2006-01-02T15:04")}}, hx...))
			}
			check("reviewed page", w.app.GetAs(w.cookies["blue"], w.url(id, "")))
			check("stale", w.post("lead", id, "red", url.Values{"version": {"1"}, "command": {"x"}}, hx...))
			check("invalid", w.post("blue", id, "blue", url.Values{"detected_at": {"soon"}}, hx...))
			check("reopen", w.post("lead", id, "reopen", nil, hx...))
			aside := w.mk(t, missiontest.StatePending, false)
			check("aside invalid", w.post("red", aside, "set-aside", url.Values{"state": {"blocked"}}, hx...))
			check("aside", w.post("red", aside, "set-aside", url.Values{"state": {"blocked"}, "reason": {"x"}}, hx...))
			check("aside page", w.app.GetAs(w.cookies["red"], w.url(aside, "")))
			check("reopened aside", w.post("lead", aside, "reopen", nil, hx...))
			w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusArchived).ExecX(w.ctx)
			check("archived", w.post("lead", aside, "start", nil, hx...))
			check("archived page", w.app.GetAs(w.cookies["lead"], w.url(aside, "")))
			w.app.Ent.Mission.UpdateOneID(w.mission).SetStatus(mission.StatusInProgress).ExecX(w.ctx)
		})
	}
}

// TestBrowserMissionTest runs a test in two real browsers: red starts and
// stops it with htmx (the work block swaps in place, the buttons follow
// the state), records the command and releases it; blue records a
// detection; red's page, now stale, gets the 409 swapped in with its input
// kept. Each step is checked on the page and in the database.
func TestBrowserMissionTest(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	red := app.User(t, "red@example.com", "redteam")
	blue := app.User(t, "blue@example.com", "blueteam")
	m := app.Ent.Mission.Create().SetName("Browser mission").SetStatus(mission.StatusInProgress).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(blue.ID).SetRole(missionmember.RoleBlue).ExecX(sys)
	tst := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetName("Run PowerShell").SaveX(sys)
	level := app.Ent.DetectionLevel.Query().Where(detectionlevel.Retired(false)).Order(detectionlevel.ByPosition()).FirstX(sys)
	page := base + "/missions/" + m.ID.String() + "/tests/" + tst.ID.String()
	settled := browsertest.Settled()
	work := func(attr string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`#mission-test-work` + attr))
	}
	login := func(ctx context.Context, email string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
			chromedp.SendKeys(chromedp.CSS(`#field-email`), email),
			chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
			work(""),
			browsertest.Loaded(),
			settled,
		); err != nil {
			browsertest.Screenshot(t, ctx, "mission-test-login-failed")
			t.Fatal(err)
		}
	}
	redCtx := browsertest.New(t)
	console := browsertest.WatchConsole(redCtx)
	login(redCtx, "red@example.com")
	if err := chromedp.Do(redCtx,
		chromedp.Evaluate[chromedp.Void](`window.violetMarker = 1`),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-start"]`)),
		work(`[data-state="running"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-stop"]`)),
		work(`[data-state="executed"]`),
		settled,
		chromedp.SendKeys(chromedp.CSS(`#field-command`), "powershell -enc SQBFAFgA"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-red-save"]`)),
		work(`[data-version="4"]`),
		settled,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-release"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mission-test-released"]`)),
		settled,
	); err != nil {
		browsertest.Screenshot(t, redCtx, "mission-test-red-failed")
		t.Fatal(err)
	}
	if same, _ := chromedp.Run(redCtx, chromedp.Evaluate[bool](`window.violetMarker === 1`)); !same {
		t.Error("the red actions reloaded the page instead of swapping the work block")
	}
	got := app.Ent.MissionTest.GetX(sys, tst.ID)
	if got.State != missiontest.StateExecuted || got.Command != "powershell -enc SQBFAFgA" || !got.ReleasedToBlue ||
		got.StartedAt == nil || got.EndedAt == nil || got.Version != 5 {
		t.Fatalf("after red: %+v", got)
	}
	browsertest.Screenshot(t, redCtx, "mission-test-red")

	blueCtx := browsertest.New(t)
	login(blueCtx, "blue@example.com")
	if err := chromedp.Do(blueCtx,
		chromedp.SetValue(chromedp.CSS(`#field-detection_level`), level.ID.String()),
		chromedp.SendKeys(chromedp.CSS(`#field-alert_name`), "Encoded PowerShell"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-blue-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mission-test-notice"][data-notice="saved"]`)),
		settled,
	); err != nil {
		browsertest.Screenshot(t, blueCtx, "mission-test-blue-failed")
		t.Fatal(err)
	}
	got = app.Ent.MissionTest.GetX(sys, tst.ID)
	if got.AlertName != "Encoded PowerShell" || got.DetectionLevelID == nil || *got.DetectionLevelID != level.ID {
		t.Fatalf("after blue: alert %q level %v", got.AlertName, got.DetectionLevelID)
	}

	// Red's page still carries the version before blue's save.
	if err := chromedp.Do(redCtx,
		chromedp.SendKeys(chromedp.CSS(`#field-red_notes`), "ran it twice"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-red-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mission-test-notice"][data-notice="conflict"]`)),
		settled,
	); err != nil {
		browsertest.Screenshot(t, redCtx, "mission-test-conflict-failed")
		t.Fatal(err)
	}
	notes, _ := chromedp.Run(redCtx, chromedp.Evaluate[string](`document.querySelector("#field-red_notes").value`))
	if notes != "ran it twice" {
		t.Errorf("red notes after the conflict %q, want the input kept", notes)
	}
	if app.Ent.MissionTest.GetX(sys, tst.ID).RedNotes != "" {
		t.Error("the stale save went through")
	}
	browsertest.Screenshot(t, redCtx, "mission-test-conflict")
	if errs := console.Errors(); len(errs) > 0 {
		// A 409 is logged by the browser as a failed resource load.
		for _, e := range errs {
			if !strings.Contains(e, "409") {
				t.Errorf("console error: %s", e)
			}
		}
	}
}

// TestBrowserMissionTestKeepsTypedText: what a red operator types is never
// lost. With unsaved text, leaving the page asks first (a beforeunload
// dialog, dismissed: the page and the text stay); Start saves what was
// typed with the step and the page shows it, clean; an action that would
// swap typed text away unsent (set aside, with notes typed) asks first,
// and declined sends nothing.
func TestBrowserMissionTestKeepsTypedText(t *testing.T) {
	app, base := browsertest.Server(t)
	sys := rule.SystemContext(context.Background())
	red := app.User(t, "red@example.com", "redteam")
	m := app.Ent.Mission.Create().SetName("Browser mission").SetStatus(mission.StatusInProgress).SaveX(sys)
	app.Ent.MissionMember.Create().SetMissionID(m.ID).SetUserID(red.ID).SetRole(missionmember.RoleRed).ExecX(sys)
	tst := app.Ent.MissionTest.Create().SetMissionID(m.ID).SetName("Run PowerShell").SaveX(sys)
	testURL := base + "/missions/" + m.ID.String() + "/tests/" + tst.ID.String()
	settled := browsertest.Settled()
	value := func(ctx context.Context, sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).value`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	unsaved := func(ctx context.Context) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof violetUnsaved === "function" && violetUnsaved()`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	// Every dialog is reported, then dismissed (stay on the page, cancel).
	dialogs := make(chan cdppage.DialogType, 8)
	go func() {
		for ev, err := range chromedp.Events(ctx, cdppage.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			dialogs <- ev.Type
			go func() {
				_, _ = chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}()
	dialog := func(want cdppage.DialogType) {
		t.Helper()
		select {
		case got := <-dialogs:
			if got != want {
				t.Errorf("a %s dialog, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			browsertest.Screenshot(t, ctx, "mission-test-no-dialog")
			t.Fatalf("no %s dialog", want)
		}
	}
	noDialog := func(what string) {
		t.Helper()
		select {
		case got := <-dialogs:
			t.Errorf("%s: unexpected %s dialog", what, got)
		default:
		}
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(testURL),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mission-test-work[data-state="pending"]`)),
		browsertest.Loaded(),
		// The scripts run once the page is parsed, which a busy machine
		// makes later than the work block shows.
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`),
		settled,
	); err != nil {
		browsertest.Screenshot(t, ctx, "mission-test-login-failed")
		t.Fatal(err)
	}
	if unsaved(ctx) {
		t.Fatal("a page just loaded reports unsaved changes")
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#field-command`), "whoami /all"),
		chromedp.SendKeys(chromedp.CSS(`#field-red_notes`), "first run"),
	); err != nil {
		t.Fatal(err)
	}
	if !unsaved(ctx) {
		t.Error("typed text is not reported unsaved")
	}

	// Leaving asks first; dismissed, the page and the text stay.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="mission-test-back"]`))); err != nil {
		t.Fatal(err)
	}
	dialog(cdppage.DialogTypeBeforeunload)
	if err := chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != testURL {
		t.Fatalf("left the page with unsaved text, to %s", loc)
	}
	if got := value(ctx, "#field-command"); got != "whoami /all" {
		t.Errorf("command after the warning %q", got)
	}

	// Start saves the typed text with the step.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-start"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mission-test-work[data-state="running"]`)),
		settled,
	); err != nil {
		browsertest.Screenshot(t, ctx, "mission-test-start-failed")
		t.Fatal(err)
	}
	noDialog("start")
	if got, notes := value(ctx, "#field-command"), value(ctx, "#field-red_notes"); got != "whoami /all" || notes != "first run" {
		t.Errorf("after start the page shows command %q, notes %q", got, notes)
	}
	if unsaved(ctx) {
		t.Error("saved text is still reported unsaved")
	}
	got := app.Ent.MissionTest.GetX(sys, tst.ID)
	if got.State != missiontest.StateRunning || got.Command != "whoami /all" || got.RedNotes != "first run" {
		t.Fatalf("after start: state %s, command %q, notes %q", got.State, got.Command, got.RedNotes)
	}
	browsertest.Screenshot(t, ctx, "mission-test-started-with-text")

	// Set aside would swap the work block and the notes typed since with
	// it: it asks first; declined, nothing is sent.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#field-red_notes`), ", then again"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-aside"] summary`)),
		chromedp.SendKeys(chromedp.CSS(`#field-reason`), "EDR killed it"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-test-aside-submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	dialog(cdppage.DialogTypeConfirm)
	if err := chromedp.Do(ctx, chromedp.Sleep(500*time.Millisecond), settled); err != nil {
		t.Fatal(err)
	}
	if got := value(ctx, "#field-red_notes"); !strings.Contains(got, "first run") || !strings.Contains(got, ", then again") {
		t.Errorf("notes after the declined set aside %q", got)
	}
	if got := app.Ent.MissionTest.GetX(sys, tst.ID); got.State != missiontest.StateRunning || got.Version != 3 {
		t.Errorf("the declined set aside was sent: state %s, version %d", got.State, got.Version)
	}
	for _, e := range console.Errors() {
		t.Errorf("console error: %s", e)
	}
}

// TestMissionTestFromTemplate: a test copied into the mission by the plan
// workflow shows its template's markdown fields and its ATT&CK tags as
// "ID name", and runs like any other.
func TestMissionTestFromTemplate(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.app.DB.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO mitre_tactics (stix_id, external_id, name, shortname, position, platforms)
		VALUES ('x-mitre-tactic--mt', 'TA0002', 'Execution', 'execution', 0, '[]')`)
	exec(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms) VALUES ('attack-pattern--mt1', 'T1059', 'Command and Scripting Interpreter', '[]')`)
	exec(`INSERT INTO mitre_technique_tactics SELECT t.id, a.id FROM mitre_techniques t, mitre_tactics a`)
	exec(`INSERT INTO mitre_subtechniques (stix_id, external_id, name, technique_id, platforms)
		SELECT 'attack-pattern--mt2', 'T1059.001', 'PowerShell', id, '[]' FROM mitre_techniques`)
	tpl := uuid.New()
	exec(`INSERT INTO test_templates (id, name, description, procedure, cleanup, expected_detection, platforms, opsec_level)
		VALUES ($1, 'Encoded PowerShell', 'Runs *encoded* commands', '1. run it', 'Remove the file', 'Script block logging **4104**', '["Windows"]', 'high')`, tpl)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) SELECT $1, id FROM mitre_subtechniques`, tpl)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, tactic_id) SELECT $1, id FROM mitre_tactics`, tpl)

	ctx := auth.NewContext(context.Background(), auth.NewViewer(w.users["lead"], "lead@example.com", "lead", "en", uuid.New(), nil,
		[]string{string(auth.MissionRead), string(auth.TemplateRead), string(auth.MissionTestRedWrite)}))
	a, err := msn.Load(ctx, w.app.Ent, auth.FromContext(ctx), w.mission)
	if err != nil {
		t.Fatal(err)
	}
	id, err := msn.AddTemplate(ctx, w.app.Ent, a, tpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := w.app.GetAs(w.cookies["red"], w.url(id, ""))
	if resp.Code != 200 {
		t.Fatalf("status %d", resp.Code)
	}
	d := doc(t, resp)
	var tags []string
	d.Find(`[data-testid="mission-test-tag"]`).Each(func(_ int, s *goquery.Selection) {
		tags = append(tags, strings.Join(strings.Fields(s.Text()), " "))
	})
	if strings.Join(tags, "|") != "T1059.001 PowerShell|TA0002 Execution" {
		t.Errorf("tags %q", tags)
	}
	if d.Find(`[data-testid="mission-test-description"] em`).Text() != "encoded" ||
		d.Find(`[data-testid="mission-test-expected-detection"] strong`).Text() != "4104" ||
		!strings.Contains(testid(d, "mission-test-cleanup"), "Remove the file") {
		t.Errorf("the template's markdown fields are not shown")
	}
	if resp := w.post("red", id, "start", nil); resp.Code != 303 || w.get(id).State != missiontest.StateRunning {
		t.Errorf("start: status %d, state %s", resp.Code, w.get(id).State)
	}
}
