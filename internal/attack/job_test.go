package attack_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/notification"
	"violet/internal/app"
	"violet/internal/attack"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/job"
	"violet/internal/notify"
	"violet/internal/testkit/testdb"
)

// server is a syncer on a runner with a notifier, as a server has, and
// the context of an admin who starts syncs.
func server(t *testing.T) (*attack.Syncer, *job.Runner, *ent.Client, context.Context, uuid.UUID) {
	t.Helper()
	db, client, _ := testdb.Open(t)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	u := client.User.Create().SetEmail("admin@example.com").SetDisplayName("Admin").SetPasswordHash("x").
		SaveX(rule.SystemContext(context.Background()))
	viewer := auth.NewViewer(u.ID, u.Email, u.DisplayName, "en", uuid.New(), []string{auth.GroupAdmin}, nil)
	jobs := job.NewRunner(client, db, notify.New(catalog), nil, quiet)
	ctx := rule.SystemContext(auth.NewContext(context.Background(), viewer))
	return attack.NewSyncerOn(jobs, nil), jobs, client, ctx, u.ID
}

// titles lists the notifications of user.
func titles(t *testing.T, client *ent.Client, user uuid.UUID) []string {
	t.Helper()
	var out []string
	for _, n := range client.Notification.Query().Where(notification.UserID(user)).
		AllX(rule.SystemContext(context.Background())) {
		out = append(out, n.Title)
	}
	return out
}

// TestStartURL: the URL form's errors come back per field with the form's
// keys and start nothing; a good URL is kept as the default when asked,
// synced in the background, and the person who started it told.
func TestStartURL(t *testing.T) {
	syncer, jobs, client, ctx, admin := server(t)
	bundle, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	served := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bundle) }))
	defer served.Close()

	for _, tc := range []struct{ url, key string }{
		{"  ", "form.required"},
		{"ftp://x/y.json", "attack_sync.url.invalid"},
		{"http://", "attack_sync.url.invalid"},
	} {
		_, err := syncer.StartURL(ctx, attack.URLForm{URL: tc.url}, nil)
		var invalid *app.Invalid
		if !errors.As(err, &invalid) || invalid.Fields["url"] != tc.key {
			t.Errorf("%q: %v, want the url field's %s", tc.url, err, tc.key)
		}
	}
	if n := client.AttackSync.Query().CountX(ctx); n != 0 {
		t.Fatalf("%d syncs begun by invalid forms", n)
	}

	u := served.URL + "/enterprise-attack-98.0.json"
	outcome := make(chan bool, 1)
	row, err := syncer.StartURL(ctx, attack.URLForm{URL: " " + u + " ", Remember: true}, func(ok bool, _ time.Duration) { outcome <- ok })
	if err != nil {
		t.Fatal(err)
	}
	if ok := <-outcome; !ok {
		t.Error("the sync did not end well")
	}
	jobs.Wait(context.Background())
	r, err := syncer.Show(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "succeeded" || r.Added != 10 || r.Version != "99.1" || r.Source != u || r.Who != "admin@example.com" || r.Took == "" {
		t.Errorf("job page row %+v", r)
	}
	if got := syncer.DefaultURL(ctx); got != u {
		t.Errorf("default URL %q, want %q", got, u)
	}
	if got := titles(t, client, admin); len(got) != 1 {
		t.Errorf("notifications %q, want the sync's", got)
	}
	p, err := syncer.Page(ctx, nil, "attack_sync.upload.missing")
	if err != nil || len(p.History) != 1 || p.Form.URL != u || p.UploadError == "" {
		t.Errorf("sync page %+v (%v)", p, err)
	}
}

// TestSyncSource: a sync of a file as the command line runs it; a
// temporary copy is removed once read, and a file that cannot be opened
// fails the job with the reason kept in the error.
func TestSyncSource(t *testing.T) {
	db, client, _ := testdb.Open(t)
	syncer := attack.NewSyncer(client, db, nil, nil, quiet)
	ctx := rule.SystemContext(context.Background())

	data, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	src, size, err := attack.SaveUpload("bundles/enterprise-attack-97.0.json", strings.NewReader(string(data)))
	if err != nil || size != int64(len(data)) || src.Label() != "enterprise-attack-97.0.json" {
		t.Fatalf("saved upload %+v, %d bytes (%v)", src, size, err)
	}
	row, err := syncer.Begin(ctx, nil, src.Label())
	if err != nil {
		t.Fatal(err)
	}
	if counts, err := syncer.Sync(ctx, row, src); err != nil || counts.Added != 10 {
		t.Errorf("sync: %+v (%v)", counts, err)
	}
	if _, err := os.Stat(src.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary copy is still there (%v)", err)
	}
	if got := client.AttackSync.GetX(ctx, row.ID); got.Source != "enterprise-attack-97.0.json" || got.Status != attacksync.StatusSucceeded {
		t.Errorf("synced job %s %q", got.Status, got.Source)
	}

	missing := attack.Source{Path: filepath.Join(t.TempDir(), "none.json")}
	row, err = syncer.Begin(ctx, nil, missing.Label())
	if err != nil {
		t.Fatal(err)
	}
	_, err = syncer.Sync(ctx, row, missing)
	var pathErr *os.PathError
	if !errors.As(err, &pathErr) {
		t.Errorf("missing file: %v, want the open error", err)
	}
	if got := client.AttackSync.GetX(ctx, row.ID); got.Status != attacksync.StatusFailed || got.Error == "" {
		t.Errorf("job of a missing file: %s %q", got.Status, got.Error)
	}
	if _, err := syncer.Sync(ctx, row, missing); err == nil {
		t.Error("a job synced twice")
	}
}

// TestReapTellsStarter: a sync whose instance died is failed as
// interrupted, and the person who started it is told.
func TestReapTellsStarter(t *testing.T) {
	syncer, _, client, ctx, admin := server(t)
	stale := client.AttackSync.Create().SetSource("old.json").SetStartedByID(admin).SaveX(ctx)
	r, err := syncer.Show(ctx, stale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "failed" || !strings.Contains(r.Error, "interrupted") {
		t.Errorf("polled page of a dead sync: %s %q", r.Status, r.Error)
	}
	if got := titles(t, client, admin); len(got) != 1 {
		t.Errorf("notifications %q, want the failure's", got)
	}
}
