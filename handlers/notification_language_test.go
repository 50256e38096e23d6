package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"violet/internal/paths"
	"violet/internal/testkit/apptest"
)

// TestNotificationTitleInReadersLanguage: a notification is shown in the
// language its reader speaks now, not the one they spoke when it was
// written: blue, in English when the lead plans the mission, reads
// "La mission … est maintenant Planifiée" once they switch to French; a
// row written before titles kept their key still shows its title.
func TestNotificationTitleInReadersLanguage(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	w.Exec(t, `UPDATE users SET locale = 'en' WHERE id = $1`, w.User("blue"))
	missionID := w.Mission(t, "Atlas")
	w.Test(t, missionID, apptest.TestOpts{}) // a mission starts with a plan
	old := addNote(t, w, w.User("blue"), "An old title, in English", "/missions", false)

	w.Run(t,
		apptest.Step{As: "lead", Path: paths.URL(paths.MissionStatus, missionID), Form: url.Values{"to": {"planned"}},
			Status: http.StatusSeeOther},
	)
	stored := w.Value(t, `SELECT title || '|' || title_key FROM notifications WHERE user_id = $1 AND kind = 'mission.status_changed'`, w.User("blue"))
	if stored != "The mission Atlas is now Planned|notify.title.status_changed" {
		t.Fatalf("stored %q, want the English title and its key", stored)
	}

	w.Run(t,
		apptest.Step{As: "blue", Path: paths.AccountLanguage, Form: url.Values{"locale": {"fr"}, "next": {"/notifications"}},
			Status: http.StatusSeeOther},
		apptest.Step{As: "blue", Path: paths.Notifications, Check: func(t *testing.T, r *httptest.ResponseRecorder) {
			got := rowTitles(doc(t, r))
			want := []string{"La mission Atlas est maintenant Planifiée", "An old title, in English"}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("titles %q, want %q", got, want)
			}
		}},
	)

	// A key the catalogue no longer holds falls back to the stored title.
	w.Exec(t, `UPDATE notifications SET title_key = 'notify.title.gone' WHERE user_id = $1 AND id <> $2`, w.User("blue"), old)
	w.Run(t, apptest.Step{As: "blue", Path: paths.Notifications, Check: func(t *testing.T, r *httptest.ResponseRecorder) {
		if got := rowTitles(doc(t, r)); len(got) == 0 || got[0] != "The mission Atlas is now Planned" {
			t.Errorf("titles %q, want the stored title first", got)
		}
	}})
}
