package home

import (
	"context"
	"testing"

	"violet/internal/i18n"
)

// TestSentence: an event reads as a sentence in the reader's language,
// with the test's ATT&CK ID in front of its name; an action without a
// sentence of its own falls back to the audit page's name of it.
func TestSentence(t *testing.T) {
	cat, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	in := func(lang string) context.Context { return i18n.NewContext(context.Background(), cat.Pick(lang, "")) }
	released := Event{Actor: "Alice", Action: "mission_test.released", Target: "PowerShell", AttackID: "T1059.001"}
	cases := []struct {
		ctx  context.Context
		e    Event
		want string
	}{
		{in("en"), released, "Alice released T1059.001 PowerShell to blue"},
		{in("fr"), released, "Alice a transmis T1059.001 PowerShell à l’équipe bleue"},
		{in("en"), Event{Actor: "Bob", Action: "mission.status_changed", Target: "Alpha"}, "Bob changed the status of Alpha"},
		{in("en"), Event{Actor: "Bob", Action: "evidence.uploaded", Target: "shot.png"}, "Bob: Evidence uploaded — shot.png"},
		{in("en"), Event{Actor: "Bob", Action: "something.new", Target: "x"}, "Bob: something.new — x"},
	}
	for _, c := range cases {
		if got := Sentence(c.ctx, c.e); got != c.want {
			t.Errorf("%s: %q, want %q", c.e.Action, got, c.want)
		}
	}
}
