package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"violet/internal/migration"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// publicTables counts the application tables of the app's database.
func publicTables(t *testing.T, app *apptest.App) int {
	t.Helper()
	var n int
	if err := app.DB.QueryRow(`SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// headRevision is the version of the newest embedded migration.
func headRevision(t *testing.T, app *apptest.App) string {
	t.Helper()
	st, err := migration.ReadStatus(t.Context(), app.DB, app.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	return st.Head
}

func TestDiagDBContract(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	w := app.Get("/api/v1/diag/db")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if n := publicTables(t, app); n < 26 {
		t.Fatalf("the database has %d tables; the v1 data model alone has 26", n)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"reachable":          true,
		"migration_revision": headRevision(t, app),
		"table_count":        float64(publicTables(t, app)),
	}
	if len(body) != len(want) {
		t.Errorf("body has keys %v, want exactly %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
}

// TestDiagDBOutage: whatever is wrong with the database, the diagnostics
// answer 503 {"reachable":false} within two seconds, and the pages still
// render (the card says unreachable).
func TestDiagDBOutage(t *testing.T) {
	stopped := testdb.NewCluster(t)
	stoppedURL := stopped.MigratedURL(t)
	stopped.StopAndWait(t)

	cases := []struct {
		name string
		url  string
	}{
		{"connection refused", testdb.RefusedURL(t)},
		{"server hangs", testdb.HangingURL(t)},
		{"cluster stopped", stoppedURL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := apptest.New(t, apptest.WithDatabaseURL(tc.url))
			start := time.Now()
			w := app.Get("/api/v1/diag/db")
			took := time.Since(start)
			if w.Code != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", w.Code)
			}
			if got := strings.TrimSpace(w.Body.String()); got != `{"reachable":false}` {
				t.Errorf("body %s, want {\"reachable\":false}", got)
			}
			if took > 2*time.Second {
				t.Errorf("answered in %v, want within 2s", took)
			}

			// The sign-in page needs no database; signing in does, and
			// fails fast with the "temporarily unavailable" page: at worst
			// after the connect timeout (database.DefaultConnectTimeout, 2 s).
			if page := app.Get("/login"); page.Code != http.StatusOK {
				t.Errorf("sign-in page: status %d, want 200", page.Code)
			}
			start = time.Now()
			login := app.PostAs(nil, "/login", url.Values{"email": {"a@example.com"}, "password": {"whatever it is"}})
			if login.Code != http.StatusServiceUnavailable || time.Since(start) > 3*time.Second {
				t.Errorf("sign-in: status %d after %v, want 503 within 3s", login.Code, time.Since(start))
			}
			if login.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}

			ready := app.Get("/readyz")
			if ready.Code != http.StatusServiceUnavailable || !strings.Contains(ready.Body.String(), `"database":"unreachable"`) {
				t.Errorf("readyz = %d %s, want 503 with database unreachable", ready.Code, ready.Body)
			}
		})
	}
}

// TestRecoversWhenDatabaseReturns: the same server, without a restart,
// reports the database again once it is back.
func TestRecoversWhenDatabaseReturns(t *testing.T) {
	t.Parallel()
	cluster := testdb.NewCluster(t)
	app := apptest.New(t, apptest.WithDatabaseURL(cluster.MigratedURL(t)))
	if w := app.Get("/api/v1/diag/db"); w.Code != http.StatusOK {
		t.Fatalf("before the outage: %d %s", w.Code, w.Body)
	}
	cluster.StopAndWait(t)
	if w := app.Get("/api/v1/diag/db"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("during the outage: %d, want 503", w.Code)
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		w := app.Get("/api/v1/diag/db")
		if w.Code == http.StatusOK && app.Get("/readyz").Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d five seconds after the database came back: %s", w.Code, w.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	t.Run("ready at head", func(t *testing.T) {
		app := apptest.New(t)
		w := app.Get("/readyz")
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"ready":true`) {
			t.Errorf("readyz = %d %s, want 200 ready", w.Code, w.Body)
		}
	})
	t.Run("migrations pending", func(t *testing.T) {
		app := apptest.New(t, apptest.WithDatabaseURL(testdb.EmptyURL(t)))
		w := app.Get("/readyz")
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"migrations":"pending"`) {
			t.Errorf("readyz = %d %s, want 503 with migrations pending", w.Code, w.Body)
		}
	})
	t.Run("draining after SIGTERM", func(t *testing.T) {
		app := apptest.New(t)
		app.Drain()
		w := app.Get("/readyz")
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"draining":true`) {
			t.Errorf("readyz = %d %s, want 503 draining", w.Code, w.Body)
		}
		if h := app.Get("/healthz"); h.Code != http.StatusOK {
			t.Errorf("healthz while draining = %d, want 200 (the process is alive)", h.Code)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		app := apptest.New(t, apptest.WithDatabaseURL(testdb.RefusedURL(t)))
		if w := app.Get("/healthz"); w.Code != http.StatusOK {
			t.Errorf("healthz with the database down = %d, want 200", w.Code)
		}
	})
}

func TestDatabaseCard(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	// Home shows the card to administrators only (issue 18).
	cookie := app.SignedIn(t, "admin@example.com", "admin")
	for _, path := range []string{"/", "/diag"} {
		t.Run(path, func(t *testing.T) {
			w := app.GetAs(cookie, path)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			d := doc(t, w)
			if got := testid(d, "db-revision"); got != headRevision(t, app) {
				t.Errorf("revision %q, want %q", got, headRevision(t, app))
			}
			if got := testid(d, "db-table-count"); got != strconv.Itoa(publicTables(t, app)) {
				t.Errorf("table count %q, want %d", got, publicTables(t, app))
			}
			if got := testid(d, "db-server-version"); !strings.HasPrefix(got, "1") {
				t.Errorf("server version %q", got)
			}
			card := d.Find(`[data-testid="db-card"]`)
			if get, _ := card.Attr("hx-get"); get != "/diag" {
				t.Errorf("card refreshes from %q, want /diag", get)
			}
			if trig, _ := card.Attr("hx-trigger"); trig != "every 10s" {
				t.Errorf("card trigger %q, want every 10s", trig)
			}
			if got := testid(d, "footer-version"); got != "Violet "+apptest.Version {
				t.Errorf("footer %q", got)
			}
		})
	}

	t.Run("htmx refresh gets the card alone", func(t *testing.T) {
		w := app.GetAs(cookie, "/diag", "HX-Request", "true")
		body := w.Body.String()
		if w.Code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, `id="db-card"`) {
			t.Errorf("partial = %d %q, want the card fragment only", w.Code, body)
		}
		if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "HX-Request") {
			t.Errorf("Vary = %v, want HX-Request", w.Header().Values("Vary"))
		}
	})
	t.Run("boosted and history-restore requests get the page", func(t *testing.T) {
		for _, h := range []string{"HX-Boosted", "HX-History-Restore-Request"} {
			w := app.GetAs(cookie, "/diag", "HX-Request", "true", h, "true")
			if !strings.Contains(w.Body.String(), "<html") {
				t.Errorf("%s: got a fragment, want the full page", h)
			}
		}
	})
}
