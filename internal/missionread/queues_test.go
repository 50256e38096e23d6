package missionread_test

import (
	"net/url"
	"testing"

	"github.com/google/uuid"

	"violet/internal/missionread"
	"violet/views/missionpage"
)

// TestFilterOfQueueAndAssignee: the queue and the assignee round-trip
// through the URL; unknown values fall back to no filter, as typed or
// shared URLs may hold anything.
func TestFilterOfQueueAndAssignee(t *testing.T) {
	id := uuid.New().String()
	for _, tc := range []struct {
		query           string
		queue, assignee string
	}{
		{"queue=red&assignee=" + id, missionpage.QueueRed, id},
		{"queue=mine&assignee=none", missionpage.QueueMine, "none"},
		{"queue=blue", missionpage.QueueBlue, ""},
		{"queue=review", missionpage.QueueReview, ""},
		{"queue=everything&assignee=bob", "", ""},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		f := missionread.FilterOf(q)
		if f.Queue != tc.queue || f.Assignee != tc.assignee {
			t.Errorf("%s: queue %q, assignee %q", tc.query, f.Queue, f.Assignee)
		}
		if again := missionread.FilterOf(f.Values()); again != f {
			t.Errorf("%s: %+v after a round trip, want %+v", tc.query, again, f)
		}
		if f.Active() != (tc.queue != "" || tc.assignee != "") {
			t.Errorf("%s: active %v", tc.query, f.Active())
		}
	}
}
