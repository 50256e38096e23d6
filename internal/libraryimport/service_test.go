package libraryimport_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/notification"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/job"
	"violet/internal/library"
	"violet/internal/libraryimport"
	"violet/internal/notify"
	"violet/internal/testkit/testdb"
	libraryviews "violet/views/library"
)

// service is the import service on a runner with a notifier, as a
// server has, and the context of the person who imports.
func service(t *testing.T) (*libraryimport.Service, *job.Runner, *ent.Client, context.Context, uuid.UUID) {
	t.Helper()
	db, client, _ := testdb.Open(t)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	u := client.User.Create().SetEmail("red@example.com").SetDisplayName("Red").SetPasswordHash("x").
		SaveX(rule.SystemContext(context.Background()))
	viewer := auth.NewViewer(u.ID, u.Email, u.DisplayName, "en", uuid.New(), nil, nil)
	jobs := job.NewRunner(client, db, notify.New(catalog), nil, nil)
	ctx := rule.SystemContext(auth.NewContext(context.Background(), viewer))
	return libraryimport.NewService(jobs), jobs, client, ctx, u.ID
}

func notifications(t *testing.T, client *ent.Client, user uuid.UUID) int {
	t.Helper()
	return client.Notification.Query().Where(notification.UserID(user)).CountX(rule.SystemContext(context.Background()))
}

// TestStartAtomicChecksTheForm: the form's errors come back per field,
// with the keys the form shows, and nothing is begun.
func TestStartAtomicChecksTheForm(t *testing.T) {
	svc, _, client, ctx, _ := service(t)
	file := []libraryimport.File{{Name: "T9999.yaml", Path: "../atomic/testdata/T9999.yaml"}}
	cases := []struct {
		name string
		form libraryimport.AtomicForm
		want map[string]string
	}{
		{"no file", libraryimport.AtomicForm{}, map[string]string{"files": "library.import.atomic.files_missing"}},
		{"a file of another kind", libraryimport.AtomicForm{Files: file, Refused: true},
			map[string]string{"files": "library.import.atomic.files_type"}},
		{"a scenario without a name", libraryimport.AtomicForm{Files: file, Scenario: true, ScenarioName: "  "},
			map[string]string{"scenario_name": "form.required"}},
		{"a name too long and an unknown filter", libraryimport.AtomicForm{Files: file, Scenario: true,
			ScenarioName: strings.Repeat("x", libraryviews.ScenarioNameMax+1), ScenarioFilter: "tactic:TA9999"},
			map[string]string{"scenario_name": "library.import.scenario.name_long", "scenario_filter": "library.import.scenario.filter_invalid"}},
	}
	for _, tc := range cases {
		_, err := svc.StartAtomic(ctx, tc.form, nil)
		var invalid *app.Invalid
		if !errors.As(err, &invalid) || len(invalid.Fields) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		for f, key := range tc.want {
			if invalid.Fields[f] != key {
				t.Errorf("%s: %s is %q, want %q", tc.name, f, invalid.Fields[f], key)
			}
		}
	}
	if n := client.ImportJob.Query().CountX(ctx); n != 0 {
		t.Errorf("%d imports begun by invalid forms", n)
	}
}

// TestStartAtomic: an uploaded technique file is imported in the
// background with the scenario asked for; its page shows the summary, the
// person who started it is told, and the upload can go once it is done.
func TestStartAtomic(t *testing.T) {
	svc, jobs, client, ctx, user := service(t)
	f, err := os.Open("../atomic/testdata/T9999.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var up libraryimport.Upload
	if err := up.Add(`C:\atomics\T9999.yaml`, f); err != nil {
		t.Fatal(err)
	}
	if err := up.Add("notes.txt", strings.NewReader("x")); err != nil || !up.Refused || len(up.Files) != 1 {
		t.Fatalf("upload %+v (%v): want the YAML file kept and the text refused", up, err)
	}
	outcome := make(chan bool, 1)
	row, err := svc.StartAtomic(ctx, libraryimport.AtomicForm{Files: up.Files, Scenario: true, ScenarioName: " From T9999 "},
		func(ok bool, _ time.Duration) { up.Remove(); outcome <- ok })
	if err != nil {
		t.Fatal(err)
	}
	if ok := <-outcome; !ok {
		t.Error("the import did not end well")
	}
	jobs.Wait(context.Background())
	r, err := svc.Show(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "succeeded" || r.Source != "T9999.yaml" || r.Added != 2 || r.ScenarioName != "From T9999" || r.ScenarioTests != 2 || r.Who != "red@example.com" {
		t.Errorf("import page row %+v", r)
	}
	if n := notifications(t, client, user); n != 1 {
		t.Errorf("%d notifications, want the import's", n)
	}
	p, err := svc.Page(ctx, libraryviews.ImportPageProps{})
	if err != nil || len(p.History) != 1 {
		t.Errorf("import page %+v (%v)", p, err)
	}
	if _, err := os.Stat(up.Files[0].Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the upload is still there (%v)", err)
	}
}

// TestStartDocumentRefuses: a document missing, too large or unreadable
// is refused with the key and cause the form shows, and nothing begun.
func TestStartDocumentRefuses(t *testing.T) {
	svc, _, client, ctx, _ := service(t)
	cases := []struct {
		name      string
		data      []byte
		key, want string
	}{
		{"missing", nil, "library.import.document.missing", ""},
		{"too large", make([]byte, library.MaxDocumentBytes+1), "library.import.document.invalid", "larger than"},
		{"not a document", []byte("- just\n- a list\n"), "library.import.document.invalid", ""},
	}
	for _, tc := range cases {
		_, err := svc.StartDocument(ctx, "lib.yaml", tc.data, nil)
		var refused *libraryimport.DocumentRefused
		if !errors.As(err, &refused) || refused.Key != tc.key || !strings.Contains(refused.Cause, tc.want) || !errors.Is(err, app.ErrInvalid) {
			t.Errorf("%s: %v, want %s mentioning %q", tc.name, err, tc.key, tc.want)
		}
	}
	if n := client.ImportJob.Query().CountX(ctx); n != 0 {
		t.Errorf("%d imports begun by refused documents", n)
	}
}
