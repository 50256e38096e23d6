package missionread_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"violet/internal/auth"
	"violet/internal/mission"
	"violet/internal/missionread"
	"violet/views/missionpage"
)

// TestQueueCountsMatchTheirLists: the overview counts each work queue in
// Go from the rows it read, and lists a queue with its condition in SQL;
// for every role and queue the tab's count is the number of tests its
// list shows.
func TestQueueCountsMatchTheirLists(t *testing.T) {
	w := setup(t)
	var red uuid.UUID
	if err := w.db.QueryRow(`INSERT INTO users (email, password_hash, display_name) VALUES ('red@example.com', 'x', 'Red')
		RETURNING id`).Scan(&red); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'red')`, w.mission, red); err != nil {
		t.Fatal(err)
	}
	// Tests assigned in turn to nobody, the lead and the red member; a
	// released executed test without a level waits for blue and review.
	for i, id := range w.tests {
		var who any
		switch i % 3 {
		case 1:
			who = w.users["lead"]
		case 2:
			who = red
		}
		if _, err := w.db.Exec(`UPDATE mission_tests SET assignee_id = $2 WHERE id = $1`, id, who); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.db.Exec(`UPDATE mission_tests SET detection_level_id = NULL WHERE id = $1`, w.tests[2]); err != nil {
		t.Fatal(err)
	}
	viewers := map[string]*auth.Viewer{"red": auth.NewViewer(red, "red@example.com", "red", "en", uuid.New(), nil,
		[]string{string(auth.MissionRead)})}
	for role := range rolePerms {
		var codes []string
		for _, p := range rolePerms[role] {
			codes = append(codes, string(p))
		}
		viewers[role] = auth.NewViewer(w.users[role], role+"@example.com", role, "en", uuid.New(), nil, codes)
	}
	nonEmpty := map[string]bool{}
	for role, v := range viewers {
		ctx := auth.NewContext(context.Background(), v)
		a, err := mission.Load(ctx, w.client, v, w.mission)
		if err != nil {
			t.Fatal(err)
		}
		all, err := missionread.Overview(ctx, w.client, w.db, a, missionpage.Filter{Group: missionpage.GroupScenario})
		if err != nil {
			t.Fatal(err)
		}
		for _, tab := range all.Queues {
			p, err := missionread.Overview(ctx, w.client, w.db, a, missionpage.Filter{Group: missionpage.GroupScenario, Queue: tab.Name})
			if err != nil {
				t.Fatal(err)
			}
			if p.Shown != tab.Count {
				t.Errorf("%s, queue %s: the tab counts %d, the list shows %d", role, tab.Name, tab.Count, p.Shown)
			}
			if tab.Count > 0 {
				nonEmpty[tab.Name] = true
			}
		}
	}
	for _, q := range missionpage.Queues() {
		if !nonEmpty[q] {
			t.Errorf("queue %s is empty for every role: the comparison proves nothing for it", q)
		}
	}
}
