package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"violet/ent/missiontest"
	"violet/internal/auth/rule"
)

// queueFixture is the overview fixture with nine tests whose state,
// release, detection and assignee put each in known work queues:
//
//	A pending  unreleased  unassigned
//	B pending  released    red
//	C running  released    lead
//	D executed released    no level
//	E executed unreleased  no level
//	F reviewed released    rated
//	G pending  unreleased  red
//	H skipped  released
//	I running  released    unassigned
type queueFixture struct {
	*overviewFixture
	ids map[string]uuid.UUID
}

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	f := &queueFixture{overviewFixture: newOverviewFixture(t), ids: map[string]uuid.UUID{}}
	ctx := rule.SystemContext(context.Background())
	red, lead := f.users["red"], f.users["lead"]
	for i, tc := range []struct {
		name     string
		state    missiontest.State
		released bool
		assignee *uuid.UUID
		rated    bool
	}{
		{"A", missiontest.StatePending, false, nil, false},
		{"B", missiontest.StatePending, true, &red, false},
		{"C", missiontest.StateRunning, true, &lead, false},
		{"D", missiontest.StateExecuted, true, nil, false},
		{"E", missiontest.StateExecuted, false, nil, false},
		{"F", missiontest.StateReviewed, true, nil, true},
		{"G", missiontest.StatePending, false, &red, false},
		{"H", missiontest.StateSkipped, true, nil, false},
		{"I", missiontest.StateRunning, true, nil, false},
	} {
		b := f.app.Ent.MissionTest.Create().SetMissionID(f.id).SetPosition(i).SetName("Test " + tc.name).
			SetState(tc.state).SetReleasedToBlue(tc.released).SetNillableAssigneeID(tc.assignee)
		if tc.rated {
			b.SetDetectionLevelID(f.levels[0].ID)
		}
		f.ids[tc.name] = b.SaveX(ctx).ID
	}
	return f
}

// shown lists the letters of the tests a page lists, sorted.
func (f *queueFixture) shown(d *goquery.Document) string {
	var got []string
	d.Find(`[data-testid="test-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-id")
		for name, x := range f.ids {
			if x.String() == id {
				got = append(got, name)
			}
		}
	})
	slices.Sort(got)
	return strings.Join(got, "")
}

// TestMissionWorkQueues: each preset queue lists exactly its tests for a
// red, a blue and a lead viewer, its tab counts them and is marked
// current; a blue member never sees an unreleased test in any queue; the
// queue combines with the other filters and with htmx the tabs follow
// out of band.
func TestMissionWorkQueues(t *testing.T) {
	t.Parallel()
	f := newQueueFixture(t)
	want := map[string]map[string]string{
		"red":  {"red": "ABGI", "blue": "BCDI", "review": "DE", "mine": "BG"},
		"lead": {"red": "ABCGI", "blue": "BCDI", "review": "DE", "mine": "CDE"},
		"blue": {"red": "BCI", "blue": "BCDI", "review": "D", "mine": "BCDI"},
	}
	for role, queues := range want {
		for queue, tests := range queues {
			t.Run(role+"/"+queue, func(t *testing.T) {
				w := f.app.GetAs(f.cookies[role], f.path("?queue="+queue))
				if w.Code != http.StatusOK {
					t.Fatalf("status %d", w.Code)
				}
				d := doc(t, w)
				if got := f.shown(d); got != tests {
					t.Errorf("tests %q, want %q", got, tests)
				}
				tab := d.Find(`[data-testid="queue-` + queue + `"]`)
				if cur, _ := tab.Attr("aria-current"); cur != "page" {
					t.Errorf("tab not marked current: %q", cur)
				}
				if n := strings.TrimSpace(tab.Find(`[data-testid="queue-count"]`).Text()); n != strconv.Itoa(len(tests)) {
					t.Errorf("tab counts %s, want %d", n, len(tests))
				}
				if role == "blue" && strings.ContainsAny(f.shown(d), "AEG") {
					t.Error("an unreleased test in a blue member's queue")
				}
			})
		}
	}
	t.Run("combined with the state filter, through htmx", func(t *testing.T) {
		w := f.app.GetAs(f.cookies["lead"], f.path("?queue=red&state=running"), "HX-Request", "true")
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "<html") {
			t.Fatalf("status %d", w.Code)
		}
		d := doc(t, w)
		if got := f.shown(d); got != "CI" {
			t.Errorf("tests %q, want CI", got)
		}
		if oob, _ := d.Find(`#queue-tabs`).Attr("hx-swap-oob"); oob != "true" {
			t.Error("the tabs do not follow the list")
		}
		if href, _ := d.Find(`[data-testid="queue-review"]`).Attr("href"); !strings.Contains(href, "state=running") || !strings.Contains(href, "queue=review") {
			t.Errorf("a tab drops the other filters: %s", href)
		}
		if v, _ := d.Find(`#filter-queue`).Attr("value"); v != "red" {
			t.Errorf("the filters' queue field %q", v)
		}
	})
	t.Run("assignee column and filter", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.cookies["lead"], f.path("?assignee="+f.users["red"].String())))
		if got := f.shown(d); got != "BG" {
			t.Errorf("assigned to red: %q", got)
		}
		cell := d.Find(`[data-testid="test-row"][data-id="` + f.ids["B"].String() + `"] [data-testid="test-assignee"]`)
		if id, _ := cell.Attr("data-assignee"); id != f.users["red"].String() || strings.TrimSpace(cell.Text()) == "" {
			t.Errorf("assignee column %q (%s)", cell.Text(), id)
		}
		d = doc(t, f.app.GetAs(f.cookies["lead"], f.path("?assignee=none")))
		if got := f.shown(d); got != "ADEFHI" {
			t.Errorf("unassigned: %q", got)
		}
		// The filter offers the members with a red role only.
		var offered []string
		d.Find(`[data-testid="filter-assignee"] option`).Each(func(_ int, s *goquery.Selection) {
			v, _ := s.Attr("value")
			offered = append(offered, v)
		})
		if len(offered) != 4 || !slices.Contains(offered, f.users["red"].String()) || !slices.Contains(offered, f.users["lead"].String()) {
			t.Errorf("assignee options %v", offered)
		}
	})
	t.Run("the test page names its assignee", func(t *testing.T) {
		d := doc(t, f.app.GetAs(f.cookies["red"], f.path("/tests/"+f.ids["B"].String())))
		el := d.Find(`[data-testid="mission-test-assignee"]`)
		if _, hidden := el.Attr("hidden"); hidden || !strings.Contains(el.Text(), "assigned to") {
			t.Errorf("assignee on the test page: %q", el.Text())
		}
	})
}

// TestMissionBulkRoute: only leads may post a bulk action (403 for the
// others, nothing changed); a lead gets the list back with the summary
// naming each test left unchanged and why.
func TestMissionBulkRoute(t *testing.T) {
	t.Parallel()
	f := newQueueFixture(t)
	ctx := rule.SystemContext(context.Background())
	version := func(name string) string {
		return strconv.Itoa(f.app.Ent.MissionTest.GetX(ctx, f.ids[name]).Version)
	}
	form := func(names ...string) url.Values {
		v := url.Values{"action": {"skip"}, "reason": {"Out of scope"}, "view": {"queue=red"}}
		for _, n := range names {
			v.Add("test", f.ids[n].String()+":"+version(n))
		}
		return v
	}
	for _, role := range []string{"red", "blue", "observer"} {
		if w := f.app.PostAs(f.cookies[role], f.path("/tests/bulk"), form("A", "I")); w.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", role, w.Code)
		}
	}
	if n := f.countRows(t, `SELECT count(*) FROM mission_tests WHERE state = 'skipped'`); n != 1 {
		t.Fatalf("refused bulk actions changed %d tests", n-1)
	}

	v := form("A", "I", "F", "B")
	// B was saved by someone else since the page showed it.
	if _, err := f.app.DB.Exec(`UPDATE mission_tests SET version = version + 1 WHERE id = $1`, f.ids["B"]); err != nil {
		t.Fatal(err)
	}
	w := f.app.PostAs(f.cookies["lead"], f.path("/tests/bulk"), v, "HX-Request", "true")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	d := doc(t, w)
	if got := strings.TrimSpace(d.Find(`[data-testid="bulk-applied"]`).Text()); got != "2 skipped" {
		t.Errorf("summary %q", got)
	}
	summary := d.Find(`[data-testid="bulk-summary"]`).Text()
	if !strings.Contains(summary, "2 not changed") {
		t.Errorf("summary %q", summary)
	}
	var refused []string
	d.Find(`[data-testid="bulk-refused"]`).Each(func(_ int, s *goquery.Selection) {
		refused = append(refused, strings.Join(strings.Fields(s.Text()), " "))
	})
	if strings.Join(refused, " | ") != "Test F is already reviewed | Test B was changed by someone else" {
		t.Errorf("refusals %q", refused)
	}
	// The list is the page's (the lead's red queue: every test still to
	// run, whoever it is assigned to): A and I are skipped now.
	if got := f.shown(d); got != "BCG" {
		t.Errorf("list after the bulk skip %q", got)
	}

	// A refusal keeps the input and the selection (422).
	v = form("C")
	v.Set("reason", "")
	w = f.app.PostAs(f.cookies["lead"], f.path("/tests/bulk"), v, "HX-Request", "true")
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("no reason: status %d", w.Code)
	}
	d = doc(t, w)
	if _, ok := d.Find(`[data-testid="test-row"][data-id="` + f.ids["C"].String() + `"] [data-testid="bulk-select"]`).Attr("checked"); !ok {
		t.Error("the selection was lost")
	}
	if d.Find(`#field-reason-error`).Length() != 1 {
		t.Error("no error next to the reason")
	}
}
