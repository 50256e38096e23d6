package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"violet/ent/missiontest"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/testkit/apptest"
)

// metricsToken is the METRICS_TOKEN of the tests' apps.
const metricsToken = "test-metrics-token-0123456789abcdef"

// scrapeAs gets /metrics with a session cookie (nil: none) and header
// pairs.
func scrapeAs(app *apptest.App, cookie *http.Cookie, header ...string) *httptest.ResponseRecorder {
	return app.GetAs(cookie, "/metrics", header...)
}

// series is one sample of a scrape: its metric name (histograms as their
// _count and _sum) and labels.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads a scrape in the text format with the Prometheus
// parser, flattened to samples.
func parseMetrics(t *testing.T, w *httptest.ResponseRecorder) []series {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("scrape: status %d\n%s", w.Code, w.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	var out []series
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetHistogram() != nil:
				out = append(out, series{name + "_count", labels, float64(m.GetHistogram().GetSampleCount())},
					series{name + "_sum", labels, m.GetHistogram().GetSampleSum()})
			case m.GetCounter() != nil:
				out = append(out, series{name, labels, m.GetCounter().GetValue()})
			case m.GetGauge() != nil:
				out = append(out, series{name, labels, m.GetGauge().GetValue()})
			}
		}
	}
	return out
}

// sample returns the value of the sample named name whose labels include
// want, and whether there is one.
func sample(all []series, name string, want ...string) (float64, bool) {
	for _, s := range all {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if s.labels[want[i]] != want[i+1] {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// TestMetrics: /metrics answers admins and the bearer token only, in the
// Prometheus text format, with request durations by route template (never
// the path), the pool's statistics and the runtime's.
func TestMetrics(t *testing.T) {
	t.Parallel()
	app := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.MetricsToken = metricsToken }))
	admin := app.SignedIn(t, "admin@example.com", "admin")
	red := app.SignedIn(t, "red@example.com", "redteam")
	ctx := rule.SystemContext(t.Context())
	m := app.Ent.Mission.Create().SetName("Operation Metrics").SaveX(ctx)
	if w := app.GetAs(admin, "/missions/"+m.ID.String()); w.Code != http.StatusOK {
		t.Fatalf("mission page: status %d", w.Code)
	}
	secret := "no-such-page-" + uuid.NewString()
	if w := app.GetAs(admin, "/"+secret); w.Code != http.StatusNotFound {
		t.Fatalf("unknown page: status %d", w.Code)
	}
	// An event stream of a mission nobody may see ends at once (404);
	// streams are left out of the durations either way.
	app.GetAs(admin, "/events?mission="+uuid.NewString())
	brew := httptest.NewRequest("BREW", "/missions", nil)
	brew.AddCookie(admin)
	app.Do(brew)

	w := scrapeAs(app, admin)
	body := w.Body.String()
	all := parseMetrics(t, w)

	t.Run("text format", func(t *testing.T) {
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("requests by route template, never by path", func(t *testing.T) {
		n, ok := sample(all, "violet_http_request_duration_seconds_count", "method", "GET", "route", "/missions/:id", "status", "200")
		if !ok || n < 1 {
			t.Errorf("no GET /missions/:id 200 sample (count %v)", n)
		}
		if strings.Contains(body, m.ID.String()) || strings.Contains(body, secret) {
			t.Error("a request path (mission id or unknown page) shows in the metrics")
		}
		if n, _ := sample(all, "violet_http_request_duration_seconds_count", "route", "unmatched", "status", "404"); n < 1 {
			t.Error("the unknown page is not counted as unmatched")
		}
		if _, ok := sample(all, "violet_http_request_duration_seconds_count", "route", "/events"); ok {
			t.Error("the event stream is in the request durations")
		}
		if _, ok := sample(all, "violet_http_request_duration_seconds_count", "method", "OTHER"); !ok {
			t.Error("an unknown method is not folded into OTHER")
		}
		if strings.Contains(body, `method="BREW"`) {
			t.Error("a client's method became a label value")
		}
	})
	t.Run("database pool", func(t *testing.T) {
		if n, ok := sample(all, "go_sql_max_open_connections", "db_name", "violet"); !ok || n != float64(app.Config.DBMaxConns) {
			t.Errorf("go_sql_max_open_connections = %v (present %v), want %d", n, ok, app.Config.DBMaxConns)
		}
		if _, ok := sample(all, "go_sql_wait_count_total", "db_name", "violet"); !ok {
			t.Error("no go_sql_wait_count_total")
		}
	})
	t.Run("runtime and process", func(t *testing.T) {
		if n, ok := sample(all, "go_goroutines"); !ok || n < 1 {
			t.Errorf("go_goroutines %v", n)
		}
		if n, ok := sample(all, "process_resident_memory_bytes"); !ok || n <= 0 {
			t.Errorf("process_resident_memory_bytes %v", n)
		}
	})
	t.Run("OpenMetrics when asked", func(t *testing.T) {
		w := scrapeAs(app, admin, "Accept", "application/openmetrics-text; version=1.0.0")
		if ct := w.Header().Get("Content-Type"); w.Code != http.StatusOK || !strings.HasPrefix(ct, "application/openmetrics-text") {
			t.Errorf("status %d, Content-Type %q", w.Code, ct)
		}
	})

	access := []struct {
		name   string
		cookie *http.Cookie
		header []string
		status int
	}{
		{"bearer token", nil, []string{"Authorization", "Bearer " + metricsToken}, http.StatusOK},
		{"bearer scheme in lower case", nil, []string{"Authorization", "bearer " + metricsToken}, http.StatusOK},
		{"wrong token", nil, []string{"Authorization", "Bearer " + strings.ToUpper(metricsToken)}, http.StatusUnauthorized},
		{"token's prefix", nil, []string{"Authorization", "Bearer " + metricsToken[:20]}, http.StatusUnauthorized},
		{"empty token", nil, []string{"Authorization", "Bearer "}, http.StatusUnauthorized},
		{"wrong token with an admin session", admin, []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"red team", red, nil, http.StatusForbidden},
		{"red team with the token", red, []string{"Authorization", "Bearer " + metricsToken}, http.StatusOK},
		{"anonymous", nil, nil, http.StatusSeeOther},
		{"anonymous with basic auth", nil, []string{"Authorization", "Basic " + metricsToken}, http.StatusSeeOther},
	}
	for _, tc := range access {
		t.Run(tc.name, func(t *testing.T) {
			w := scrapeAs(app, tc.cookie, tc.header...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			switch tc.status {
			case http.StatusOK:
				if !strings.Contains(w.Body.String(), "violet_http_request_duration_seconds_bucket") {
					t.Error("no metrics in the answer")
				}
			case http.StatusUnauthorized:
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") || strings.Contains(w.Body.String(), "go_goroutines") {
					t.Errorf("401 without the challenge, or with metrics: %q", w.Body)
				}
			case http.StatusSeeOther:
				if !strings.HasPrefix(w.Header().Get("Location"), "/login") {
					t.Errorf("redirected to %q, want the sign-in page", w.Header().Get("Location"))
				}
			}
		})
	}
}

// TestMetricsTokenOff: without METRICS_TOKEN no bearer token opens
// /metrics, not even an empty one.
func TestMetricsTokenOff(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	for _, token := range []string{metricsToken, "", "x"} {
		if w := scrapeAs(app, nil, "Authorization", "Bearer "+token); w.Code != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", token, w.Code)
		}
	}
	admin := app.SignedIn(t, "admin@example.com", "admin")
	if w := scrapeAs(app, admin); w.Code != http.StatusOK {
		t.Errorf("admin: status %d", w.Code)
	}
}

// TestMetricsEvidenceBytes: an accepted upload adds its files' bytes, a
// refused one adds none; both count by outcome.
func TestMetricsEvidenceBytes(t *testing.T) {
	t.Parallel()
	w := newMTWorld(t)
	test := w.mk(t, missiontest.StateRunning, false)
	read := func() (stored, accepted, refused float64) {
		all := parseMetrics(t, scrapeAs(w.app, w.cookies["admin"]))
		stored, _ = sample(all, "violet_evidence_uploaded_bytes_total")
		accepted, _ = sample(all, "violet_evidence_uploads_total", "outcome", "accepted")
		refused, _ = sample(all, "violet_evidence_uploads_total", "outcome", "refused")
		return
	}
	b0, a0, r0 := read()
	shot, text := evPNG(t, 40, 30), []byte("whoami\nnt authority\\system\n")
	if res := w.upload(t, "red", test, []evFile{{"shot.png", shot}, {"run.log", text}}); res.Code != http.StatusSeeOther {
		t.Fatalf("upload: status %d\n%s", res.Code, res.Body)
	}
	b1, a1, r1 := read()
	if b1-b0 != float64(len(shot)+len(text)) || a1-a0 != 1 || r1 != r0 {
		t.Errorf("after an accepted upload of %d bytes: bytes +%v, accepted +%v, refused +%v",
			len(shot)+len(text), b1-b0, a1-a0, r1-r0)
	}
	if res := w.upload(t, "red", test, []evFile{{"invoice.png", []byte("<!DOCTYPE html><html></html>")}}); res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("refused upload: status %d", res.Code)
	}
	b2, a2, r2 := read()
	if b2 != b1 || a2 != a1 || r2-r1 != 1 {
		t.Errorf("after a refused upload: bytes +%v, accepted +%v, refused +%v", b2-b1, a2-a1, r2-r1)
	}
}

// TestMetricsJobs: finished ATT&CK syncs and library imports show in
// their duration histograms, by outcome.
func TestMetricsJobs(t *testing.T) {
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	data, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	wait := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		app.Wait(ctx) // the background jobs, observed as they end
	}
	if _, status, msg, _, _ := waitSync(t, app, uploadBundle(app, admin, "enterprise-attack-99.1.json", bytes.NewReader(data))); status != "succeeded" {
		t.Fatalf("sync %s: %s", status, msg)
	}
	if _, status, _, _, _ := waitSync(t, app, uploadBundle(app, admin, "broken.json", strings.NewReader(`{"type": "bundle", "objects": [`))); status != "failed" {
		t.Fatalf("broken bundle: sync %s", status)
	}
	if j := importWait(t, app, importPost(app, admin, "/library/import/atomic", importFile("T9999.001.yaml", importFixtureBytes(t)))); j.Status != "succeeded" {
		t.Fatalf("import %s: %s", j.Status, j.Error)
	}
	// A library document import is synchronous: the export of this very
	// library, imported back (it updates, nothing new).
	if w := importPost(app, admin, "/library/import/library", importPart{"document", "library.yaml", []byte(importExportDoc(t, app, admin, ""))}); w.Code != http.StatusSeeOther {
		t.Fatalf("library document import: status %d\n%s", w.Code, w.Body)
	}
	wait()
	all := parseMetrics(t, scrapeAs(app, admin))
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"violet_attack_sync_duration_seconds_count", []string{"outcome", "ok"}, 1},
		{"violet_attack_sync_duration_seconds_count", []string{"outcome", "failed"}, 1},
		{"violet_library_import_duration_seconds_count", []string{"kind", "atomic", "outcome", "ok"}, 1},
		{"violet_library_import_duration_seconds_count", []string{"kind", "atomic", "outcome", "failed"}, 0},
		{"violet_library_import_duration_seconds_count", []string{"kind", "library", "outcome", "ok"}, 1},
	}
	for _, c := range checks {
		if got, ok := sample(all, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if sum, _ := sample(all, "violet_attack_sync_duration_seconds_sum", "outcome", "ok"); sum <= 0 {
		t.Errorf("sync duration sum %v", sum)
	}
}
