package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"violet/internal/demo"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// TestDemoCommand: `violet demo` prints the mission's link and the three
// accounts with passwords that work; a second run says the demo exists and
// shows no password.
func TestDemoCommand(t *testing.T) {
	dbURL := testdb.URL(t)
	vars := map[string]string{"DATABASE_URL": dbURL, "BASE_URL": "https://violet.example.com/"}
	app := apptest.New(t, apptest.WithDatabaseURL(dbURL))
	runDemo := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var out, errOut bytes.Buffer
		if err := demoCmd(ctx, env{getenv: envOf(vars), stdout: &out, stderr: &errOut}, nil); err != nil {
			t.Fatalf("demo: %v\n%s", err, errOut.String())
		}
		return out.String()
	}

	out := runDemo()
	if !regexp.MustCompile(`https://violet\.example\.com/missions/[0-9a-f-]{36}`).MatchString(out) {
		t.Errorf("no mission link:\n%s", out)
	}
	if !strings.Contains(out, "catalogue is empty") {
		t.Errorf("does not say the demo is untagged:\n%s", out)
	}
	for _, email := range []string{demo.LeadEmail, demo.RedEmail, demo.BlueEmail} {
		m := regexp.MustCompile(regexp.QuoteMeta(email) + `[ \t]+(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no password for %s:\n%s", email, out)
			continue
		}
		app.Login(t, email, m[1]) // fails the test unless the password works
	}

	again := runDemo()
	if !strings.Contains(again, "exists already") {
		t.Errorf("second run:\n%s", again)
	}
	if regexp.MustCompile(regexp.QuoteMeta(demo.LeadEmail) + `[ \t]+\S`).MatchString(again) {
		t.Errorf("second run shows a password:\n%s", again)
	}
	var missions int
	if err := app.DB.QueryRow(`SELECT count(*) FROM missions`).Scan(&missions); err != nil || missions != 1 {
		t.Errorf("%d missions after two runs (%v)", missions, err)
	}
}
