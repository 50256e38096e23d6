package mission_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	entmission "violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/i18n"
	msn "violet/internal/mission"
	"violet/internal/notify"
	missionviews "violet/views/missions"
)

// notifier is a notifier rendering English titles.
func notifier(t *testing.T) *notify.Notifier {
	t.Helper()
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	return notify.New(catalog)
}

// invalidKeys returns the keys of an *app.Invalid (its form key under
// ""), or fails.
func invalidKeys(t *testing.T, err error) map[string]string {
	t.Helper()
	var inv *app.Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("%v, want invalid input", err)
	}
	out := map[string]string{"": inv.Key}
	for f, k := range inv.Fields {
		out[f] = k
	}
	return out
}

// traces counts what a workflow leaves: audit events of action, live
// events of kind and notifications.
func (w *world) traces(t *testing.T, action, kind string) [3]int {
	t.Helper()
	return [3]int{
		w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1`, action),
		w.count(t, `SELECT count(*) FROM live_events WHERE kind = $1`, kind),
		w.count(t, `SELECT count(*) FROM notifications`),
	}
}

// TestServiceMissionLifecycle: create (the creator leads), edit with the
// version seen, status change with its notification, delete and restore
// each write their audit event (and live event, notifications) in their
// transaction; refusals write nothing.
func TestServiceMissionLifecycle(t *testing.T) {
	w := setup(t)
	s := msn.NewService(w.client, notifier(t))
	lctx := w.as("lead")

	_, err := s.Create(lctx, msn.MissionInput{Name: "  ", StartDate: "2026-03-31", EndDate: "2026-03-01"})
	if got := invalidKeys(t, err); got["name"] != "form.required" || got["end_date"] != "missions.form.end_before_start" {
		t.Errorf("refused create: %v", got)
	}
	m, err := s.Create(lctx, msn.MissionInput{Name: " Operation Indigo ", StartDate: "2026-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Operation Indigo" || m.StartDate == nil ||
		w.count(t, `SELECT count(*) FROM mission_members WHERE mission_id = $1 AND user_id = $2 AND role = 'lead'`, m.ID, w.users["lead"]) != 1 {
		t.Errorf("created %+v without its creator as lead", m)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`, audit.MissionCreated, m.ID.String()); n != 1 {
		t.Errorf("%d creation events", n)
	}

	a := w.access(t, "lead")
	if err := s.Update(lctx, a, a.Mission.Version+1, msn.MissionInput{Name: "Stale"}); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("stale edit: %v", err)
	}
	if err := s.Update(w.as("red"), w.access(t, "red"), a.Mission.Version, msn.MissionInput{Name: "Red's"}); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("red edits: %v", err)
	}
	if got := w.traces(t, audit.MissionUpdated, "mission"); got != [3]int{} {
		t.Errorf("refused edits left %v", got)
	}
	if err := s.Update(lctx, a, a.Mission.Version, msn.MissionInput{Name: "Renamed"}); err != nil {
		t.Fatal(err)
	}
	if got := w.traces(t, audit.MissionUpdated, "mission"); got != [3]int{1, 1, 0} {
		t.Errorf("edit left audit, live, notifications %v, want [1 1 0]", got)
	}

	// No test planned: the move is refused with its reason.
	err = s.ChangeStatus(lctx, a, entmission.StatusPlanned)
	var refused *msn.ErrTransition
	if !errors.As(err, &refused) || a.Mission.Status != entmission.StatusDraft {
		t.Fatalf("planning an empty mission: %v, status %s", err, a.Mission.Status)
	}
	if key, _ := msn.TransitionNotice(context.Background(), refused, "planned"); key != "missions.status.need_tests" {
		t.Errorf("notice %q", key)
	}
	if _, err := msn.Instantiate(lctx, w.client, a, []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeStatus(lctx, a, entmission.StatusPlanned); err != nil {
		t.Fatal(err)
	}
	// Every other member (red, blue, observer) hears of it.
	if got := w.traces(t, audit.MissionStatusChanged, "mission"); got != [3]int{1, 2, 3} {
		t.Errorf("status change left audit, live, notifications %v, want [1 2 3]", got)
	}

	if err := s.Delete(w.as("red"), w.access(t, "red")); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("red deletes: %v", err)
	}
	if err := s.Delete(lctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(lctx, w.mission); !errors.Is(err, app.ErrForbidden) {
		t.Errorf("restore without trash.manage: %v", err)
	}
	trash := auth.NewContext(context.Background(), auth.NewViewer(w.users["admin"], "admin@example.com", "admin", "en",
		uuid.New(), nil, []string{string(auth.MissionRead), string(auth.MissionReadAll), string(auth.TrashManage)}))
	for range 2 { // the second click finds it restored already
		if err := s.Restore(trash, w.mission); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action IN ($1, $2)`, audit.MissionDeleted, audit.MissionRestored); n != 2 {
		t.Errorf("%d delete and restore events, want 2", n)
	}
}

// TestServiceMembersAndCategories: member and category changes write
// their audit event and live event; the person added is notified; the
// rules' refusals are invalid input with the message the page shows.
func TestServiceMembersAndCategories(t *testing.T) {
	w := setup(t)
	s := msn.NewService(w.client, notifier(t))
	lctx, lead := w.as("lead"), w.access(t, "lead")

	if err := s.AddMember(lctx, lead, w.users["outsider"], "red"); err != nil {
		t.Fatal(err)
	}
	if got := w.traces(t, audit.MissionMemberAdded, "members"); got != [3]int{1, 1, 1} {
		t.Errorf("add left audit, live, notifications %v, want [1 1 1]", got)
	}
	err := s.AddMember(lctx, lead, w.users["outsider"], "blue")
	if got := invalidKeys(t, err); got[""] != "missions.members.already" || !errors.Is(err, msn.ErrAlreadyMember) {
		t.Errorf("adding twice: %v", err)
	}
	if got := invalidKeys(t, s.AddMember(lctx, lead, uuid.New(), "red")); got[""] != "missions.members.user_missing" {
		t.Errorf("adding nobody: %v", got)
	}
	if got := invalidKeys(t, s.RemoveMember(lctx, lead, w.users["lead"])); got[""] != "missions.members.last_lead" {
		t.Errorf("removing the last lead: %v", got)
	}
	if err := s.ChangeMemberRole(lctx, lead, w.users["outsider"], "owner"); !errors.Is(err, msn.ErrBadRole) {
		t.Errorf("unknown role: %v", err)
	}
	if err := s.RemoveMember(w.as("red"), w.access(t, "red"), w.users["outsider"]); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("red removes: %v", err)
	}
	d, err := msn.MembersPage(lctx, w.client, lead, " nobody ")
	if err != nil || len(d.Members.Rows) != 5 || d.Candidates.Query != "nobody" || len(d.Candidates.Hits) != 0 {
		t.Errorf("members page %+v, %v", d, err)
	}

	err = s.AddCategory(lctx, lead, msn.CategoryInput{Name: " ", Colour: "red"})
	if got := invalidKeys(t, err); got["name"] != "form.required" || got["colour"] != "missions.categories.bad_colour" {
		t.Errorf("refused category: %v", got)
	}
	if err := s.AddCategory(lctx, lead, msn.CategoryInput{Name: " Perimeter ", Colour: "#AABBCC"}); err != nil {
		t.Fatal(err)
	}
	if got := w.traces(t, audit.MissionPlanChanged, "plan"); got != [3]int{1, 1, 1} { // the one notification: the add's
		t.Errorf("category left audit, live, notifications %v, want [1 1 1]", got)
	}
	c, err := msn.CategoriesPage(lctx, w.client, lead)
	if err != nil || len(c.Categories.Rows) != 1 || c.Categories.Rows[0].Name != "Perimeter" || c.Categories.Rows[0].Colour != "#aabbcc" {
		t.Errorf("categories page %+v, %v", c, err)
	}
}

// TestServicePlan: copying from the library records the plan change in
// the copy's transaction; a template or scenario gone is invalid input
// and copies nothing.
func TestServicePlan(t *testing.T) {
	w := setup(t)
	s := msn.NewService(w.client, notifier(t))
	lctx, lead := w.as("lead"), w.access(t, "lead")
	tests := func() int { return w.count(t, `SELECT count(*) FROM mission_tests WHERE mission_id = $1`, w.mission) }

	if got := invalidKeys(t, mustFail(s.InstantiateScenarios(lctx, lead, nil))); got[""] != "missions.plan.choose_scenario" {
		t.Errorf("no scenario: %v", got)
	}
	if got := invalidKeys(t, mustFail(s.InstantiateScenarios(lctx, lead, []uuid.UUID{w.scenario, uuid.New()}))); got[""] != "missions.plan.scenario_gone" {
		t.Errorf("scenario gone: %v", got)
	}
	if got := invalidKeys(t, mustFail(s.AddTemplate(lctx, lead, uuid.New()))); got[""] != "missions.plan.template_gone" {
		t.Errorf("template gone: %v", got)
	}
	if got := invalidKeys(t, mustFail(s.AddTest(lctx, lead, msn.NewTestInput{Name: "\t"}))); got["name"] != "form.required" {
		t.Errorf("nameless test: %v", got)
	}
	if _, err := s.AddTemplate(w.as("red"), w.access(t, "red"), w.tpl[0]); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("red plans: %v", err)
	}
	if n, got := tests(), w.traces(t, audit.MissionPlanChanged, "plan"); n != 0 || got != [3]int{} {
		t.Fatalf("refusals left %d tests, %v", n, got)
	}
	created, err := s.InstantiateScenarios(lctx, lead, []uuid.UUID{w.scenario})
	if err != nil || len(created) != 1 {
		t.Fatal(created, err)
	}
	if _, err := s.AddTemplate(lctx, lead, w.tpl[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddTest(lctx, lead, msn.NewTestInput{Name: " Written by hand "}); err != nil {
		t.Fatal(err)
	}
	if n, got := tests(), w.traces(t, audit.MissionPlanChanged, "plan"); n != 6 || got != [3]int{3, 3, 0} {
		t.Errorf("%d tests, audit, live, notifications %v, want 6 and [3 3 0]", n, got)
	}
	if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND details->>'change' = 'instantiate'
		AND details->'mission_scenarios'->>0 = $2`, audit.MissionPlanChanged, created[0].String()); n != 1 {
		t.Errorf("%d instantiate events naming the new scenario", n)
	}
	hits, more, err := msn.SearchTemplates(lctx, w.client, "run", 1)
	if err != nil || len(hits) != 1 || !more || hits[0].Name != "Run PowerShell" || len(hits[0].Tags) != 1 || hits[0].Tags[0].Kind != "subtechnique" {
		t.Errorf("template search %+v more %v: %v", hits, more, err)
	}
	scenarios, _, err := msn.SearchScenarios(lctx, w.client, "foothold", 20)
	if err != nil || len(scenarios) != 1 || scenarios[0].Tests != 4 {
		t.Errorf("scenario search %+v: %v", scenarios, err)
	}
}

func mustFail[T any](_ T, err error) error { return err }

// TestStepMethods: each step is one call with the version the person
// saw; the red fields typed with Start are saved with it (two audit
// events, one transaction); invalid input, a refused role or state
// change nothing; the page's read model shows the result.
func TestStepMethods(t *testing.T) {
	w := setup(t)
	lead := w.access(t, "lead")
	if _, err := msn.Instantiate(w.as("lead"), w.client, lead, []uuid.UUID{w.scenario}); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	if err := w.db.QueryRow(`SELECT id FROM mission_tests ORDER BY position LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	steps := msn.NewSteps(w.client, notifier(t)).WithClock(func() time.Time { return now })
	w.inProgress(t)
	red, rctx := w.access(t, "red"), w.as("red")
	blue, bctx := w.access(t, "blue"), w.as("blue")
	lctx := w.as("lead")
	audited := func() int {
		return w.count(t, `SELECT count(*) FROM audit_events WHERE target_type = 'mission_test' AND target_id = $1`, id.String())
	}

	long := &msn.RedFields{SourceHost: "ws01\x01"}
	if got := invalidKeys(t, mustFail(steps.Start(rctx, red, id, 1, long))); got["source_host"] != "missions.test.host_invalid" {
		t.Errorf("control character in a host: %v", got)
	}
	if _, err := steps.Start(w.as("observer"), w.access(t, "observer"), id, 1, nil); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("observer starts: %v", err)
	}
	if _, err := steps.Start(bctx, blue, id, 1, nil); !ent.IsNotFound(err) {
		t.Errorf("blue starts an unreleased test: %v, want not found", err)
	}
	if n := audited(); n != 0 {
		t.Fatalf("refusals left %d audit events", n)
	}
	v, err := steps.Start(rctx, red, id, 1, &msn.RedFields{Command: "whoami", SourceHost: " ws01 "})
	if err != nil || v != 3 {
		t.Fatalf("start with red fields: version %d, %v", v, err)
	}
	if n := audited(); n != 2 {
		t.Errorf("%d audit events, want a red save and a start", n)
	}
	if _, err := steps.Stop(rctx, red, id, v-1, nil); !errors.Is(err, msn.ErrConflict) {
		t.Errorf("stale stop: %v", err)
	}
	if v, err = steps.Stop(rctx, red, id, v, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := steps.SaveBlue(lctx, lead, id, v, msn.BlueInput{AlertName: "EDR"}); !errors.Is(err, msn.ErrNotReleased) {
		t.Errorf("blue record of an unreleased test: %v", err)
	}
	if v, err = steps.Release(rctx, red, id, v, nil); err != nil {
		t.Fatal(err)
	}
	err = mustFail(steps.SaveBlue(bctx, blue, id, v, msn.BlueInput{Level: "nope", DetectedAt: "2026-11-26T09:00"}))
	if got := invalidKeys(t, err); got["detection_level"] != "missions.test.level_invalid" || got["detected_at"] != "missions.test.detected_before_start" {
		t.Errorf("refused blue record: %v", got)
	}
	if v, err = steps.SaveBlue(bctx, blue, id, v, msn.BlueInput{DetectedAt: " 2026-11-26T10:02 ", AlertName: " EDR "}); err != nil {
		t.Fatal(err)
	}
	if v, err = steps.Review(lctx, lead, id, v); err != nil {
		t.Fatal(err)
	}
	if v, err = steps.Reopen(lctx, lead, id, v); err != nil {
		t.Fatal(err)
	}
	if got := invalidKeys(t, mustFail(steps.SetAside(rctx, red, id, v, missiontest.StateSkipped, " "))); got["reason"] != "form.required" {
		t.Errorf("no reason: %v", got)
	}
	if _, err := steps.SetAside(rctx, red, id, v, missiontest.StateSkipped, "late"); !msn.IsState(err) {
		t.Errorf("setting an executed test aside: %v", err)
	}

	p, err := msn.TestPage(bctx, w.client, blue, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Work.State != "executed" || p.Work.Blue.Form.AlertName != "EDR" || p.Work.Red.Form.SourceHost != "ws01" ||
		p.Work.Version != v || !p.Work.Blue.Editable || p.Work.Red.Editable {
		t.Errorf("blue's page: %+v", p.Work)
	}
	var events []string
	for _, e := range p.Work.History {
		if e.Audited {
			events = append(events, e.Action)
		}
	}
	want := []string{audit.MissionTestRedSaved, audit.MissionTestStarted, audit.MissionTestStopped, audit.MissionTestReleased,
		audit.MissionTestBlueSaved, audit.MissionTestReviewed, audit.MissionTestReopened}
	if len(events) != len(want) {
		t.Errorf("history %v, want %v", events, want)
	}
	// Each step is told once: the record's start and stop are not listed
	// again beside their audit events ("started by" was shown twice).
	told := map[string]int{}
	for _, e := range p.Work.History {
		told[e.Key]++
	}
	for _, keys := range [][2]string{
		{"missions.test.event_started", "missions.test.event_audit_started"},
		{"missions.test.event_stopped", "missions.test.event_audit_stopped"},
		{"missions.test.event_reviewed", ""},
	} {
		if n := told[keys[0]] + told[keys[1]]; n != 1 {
			t.Errorf("%s: told %d times in %v, want once", keys[0], n, told)
		}
	}
}

// TestListFilter: unknown values fall back to the defaults; the trash is
// for trash.manage only.
func TestListFilter(t *testing.T) {
	f := msn.ListFilter(" Violet ", "nonsense", "1", "", "-3")
	if f.Q != "Violet" || f.Status != "" || !f.Mine || f.Deleted || f.Page != 1 {
		t.Errorf("filter %+v", f)
	}
	w := setup(t)
	if _, err := msn.List(w.as("lead"), w.client, missionviews.Filter{Deleted: true, Page: 1}); !errors.Is(err, msn.ErrForbidden) {
		t.Errorf("trash without trash.manage: %v", err)
	}
	l, err := msn.List(w.as("red"), w.client, missionviews.Filter{Page: 1})
	if err != nil || len(l.Rows) != 1 || l.Rows[0].Members != 4 {
		t.Errorf("red's list %+v: %v", l, err)
	}
}
