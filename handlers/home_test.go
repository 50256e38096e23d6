package handlers_test

import (
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"violet/ent/mission"
	"violet/ent/missiontest"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// TestHomePage: through the router, each role's home holds its queue (or
// its empty state) with the "see all" link to the overview's preset
// filter, the missions with the viewer's role, and the recent activity;
// an administrator alone sees the Database card and the jobs; someone in
// no mission is told what to do next.
func TestHomePage(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	alpha := w.Mission(t, "Alpha", mission.StatusInProgress)
	run := w.Test(t, alpha, apptest.TestOpts{Name: "Run me", Technique: "T1059.001", TechniqueName: "PowerShell"})
	review := w.Test(t, alpha, apptest.TestOpts{Name: "Review me", State: missiontest.StateExecuted})
	w.Exec(t, `INSERT INTO audit_events (actor_id, actor_label, action, target_type, target_id, target_label)
		VALUES ($1, 'red@example.com', 'mission_test.started', 'mission_test', $2, 'Run me')`, w.User("red"), run.String())
	queue := func(name string) string { return `[data-testid="home-queue"][data-queue="` + name + `"]` }
	row := func(q string, id uuid.UUID) string {
		return queue(q) + ` [data-testid="home-queue-row"][data-id="` + id.String() + `"]`
	}
	seeAll := func(q string) func(t *testing.T, r *httptest.ResponseRecorder) {
		return func(t *testing.T, r *httptest.ResponseRecorder) {
			link := apptest.Doc(t, r).Find(queue(q) + ` [data-testid="home-queue-all"]`)
			want := paths.Query(paths.URL(paths.Mission, alpha), "queue", q)
			if href, _ := link.Attr("href"); link.Length() != 1 || href != want {
				t.Errorf("%s queue's link %q (%d), want %q", q, href, link.Length(), want)
			}
		}
	}
	w.Run(t,
		apptest.Step{As: "red", Path: "/",
			TestIDs:   []string{queue("red"), row("red", run), `[data-testid="home-mission"][data-id="` + alpha.String() + `"]`},
			NoTestIDs: []string{queue("blue"), queue("review"), "db-card", "home-jobs"},
			Text: map[string]string{
				row("red", run):         "T1059.001 Run me",
				"home-queue-all":        "Alpha: see all (1)",
				"home-mission-role":     "Red",
				"home-mission-progress": "0 / 2 done",
				"home-activity-row":     "red started T1059.001 Run me",
			},
			Check: seeAll("red")},
		// Nothing is released: blue's queue says so, and blue does not see
		// the history of the unreleased test.
		apptest.Step{As: "blue", Path: "/",
			TestIDs:   []string{queue("blue"), queue("blue") + ` [data-testid="home-queue-empty"]`, "home-activity-empty"},
			NoTestIDs: []string{queue("red"), "home-queue-row"},
			Text:      map[string]string{"home-mission-progress": "0 / 0 done"}},
		apptest.Step{As: "lead", Path: "/",
			TestIDs:   []string{queue("review"), row("review", review)},
			NoTestIDs: []string{row("review", run), "db-card"},
			Check:     seeAll("review")},
		apptest.Step{As: "observer", Path: "/",
			TestIDs:   []string{"home-mission"},
			NoTestIDs: []string{"home-queue"}},
		apptest.Step{As: "none", Path: "/",
			TestIDs:   []string{"home-missions-empty"},
			NoTestIDs: []string{"home-mission-create", "home-queue", "db-card"},
			Text:      map[string]string{"home-missions-empty": "Ask a mission lead"}},
		apptest.Step{As: "admin", Path: "/",
			TestIDs: []string{"db-card", "home-jobs", "home-jobs-empty", "home-missions-empty", "home-mission-create"}},
	)
}
