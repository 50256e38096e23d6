package handlers_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"violet/internal/testkit/apptest"
)

const miniBundle = "../internal/attack/testdata/mini-bundle.json"

// uploadBundle posts a bundle to the upload form as a browser would.
func uploadBundle(app *apptest.App, cookie *http.Cookie, name string, body io.Reader) *httptest.ResponseRecorder {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, _ := mw.CreateFormFile("bundle", name)
		_, err := io.Copy(part, body)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	r := httptest.NewRequest(http.MethodPost, "/admin/attack-sync/upload", pr)
	r.ContentLength = -1
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(cookie)
	return app.Do(r)
}

// waitSync waits for the job a redirect points at to finish and returns
// its status, error and added/unchanged counts.
func waitSync(t *testing.T, app *apptest.App, w *httptest.ResponseRecorder) (id, status, errMsg string, added, unchanged int) {
	t.Helper()
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/admin/attack-sync/") {
		t.Fatalf("status %d to %q, want 303 to the job page\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	id = strings.TrimPrefix(w.Header().Get("Location"), "/admin/attack-sync/")
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := app.DB.QueryRow(`SELECT status, error, added, unchanged FROM attack_syncs WHERE id = $1`, id).
			Scan(&status, &errMsg, &added, &unchanged)
		if err != nil {
			t.Fatal(err)
		}
		if status != "running" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync %s still running after a minute", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func catalogueSum(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out []string
	for _, table := range []string{"mitre_tactics", "mitre_techniques", "mitre_subtechniques", "mitre_technique_tactics"} {
		var s sql.NullString
		if err := db.QueryRow(`SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM ` + table + ` x`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	return strings.Join(out, "/")
}

func TestAttackSyncUpload(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	data, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	id, status, msg, added, _ := waitSync(t, app, uploadBundle(app, admin, "enterprise-attack-99.1.json", bytes.NewReader(data)))
	if status != "succeeded" || added != 10 {
		t.Fatalf("status %s (%s), added %d", status, msg, added)
	}
	page := app.GetAs(admin, "/admin/attack-sync/"+id)
	d := doc(t, page)
	if testid(d, "sync-added") != "10" || testid(d, "sync-version") != "99.1" {
		t.Errorf("summary: added %q version %q", testid(d, "sync-added"), testid(d, "sync-version"))
	}
	t.Run("the finished card stops polling", func(t *testing.T) {
		w := app.GetAs(admin, "/admin/attack-sync/"+id, "HX-Request", "true")
		if strings.Contains(w.Body.String(), "<html") || strings.Contains(w.Body.String(), "hx-trigger") {
			t.Errorf("fragment %s", w.Body)
		}
	})
	t.Run("re-upload changes nothing", func(t *testing.T) {
		before := catalogueSum(t, app.DB)
		_, status, _, added, unchanged := waitSync(t, app, uploadBundle(app, admin, "b.json", bytes.NewReader(data)))
		if status != "succeeded" || added != 0 || unchanged != 10 || catalogueSum(t, app.DB) != before {
			t.Errorf("status %s added %d unchanged %d", status, added, unchanged)
		}
	})
	t.Run("history", func(t *testing.T) {
		d := doc(t, app.GetAs(admin, "/admin/attack-sync"))
		if n := d.Find(`[data-testid="sync-row"]`).Length(); n != 2 {
			t.Errorf("%d rows in the history, want 2", n)
		}
	})
	t.Run("no file", func(t *testing.T) {
		w := uploadBundle(app, admin, "", strings.NewReader(""))
		if w.Code != http.StatusUnprocessableEntity || doc(t, w).Find(`[data-testid="error-bundle"]`).Length() != 1 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestAttackSyncRealBundle uploads MITRE's 16.1 bundle through the page.
func TestAttackSyncRealBundle(t *testing.T) {
	t.Parallel()
	path := "../../shared/data/attack/enterprise-attack-16.1.json"
	f, err := os.Open(path)
	if err != nil {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	defer f.Close()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	_, status, msg, added, _ := waitSync(t, app, uploadBundle(app, admin, "enterprise-attack-16.1.json", f))
	if status != "succeeded" || added != 813 {
		t.Fatalf("status %s (%s), added %d, want 813", status, msg, added)
	}
	for table, want := range map[string]int{"mitre_tactics": 14, "mitre_techniques": 343, "mitre_subtechniques": 456} {
		var n int
		app.DB.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n)
		if n != want {
			t.Errorf("%s: %d, want %d", table, n, want)
		}
	}
}

// TestAttackSyncBadUploads: every bad bundle fails its job with a message
// naming the problem and leaves the catalogue as it was.
func TestAttackSyncBadUploads(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	admin := app.SignedIn(t, "admin@example.com", "admin")
	good, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, status, _, _, _ := waitSync(t, app, uploadBundle(app, admin, "good.json", bytes.NewReader(good))); status != "succeeded" {
		t.Fatal(status)
	}
	before := catalogueSum(t, app.DB)
	edit := func(change func(o []map[string]any) []map[string]any) string {
		var b map[string]any
		json.Unmarshal(good, &b)
		var objs []map[string]any
		raw, _ := json.Marshal(b["objects"])
		json.Unmarshal(raw, &objs)
		b["objects"] = change(objs)
		out, _ := json.Marshal(b)
		return string(out)
	}
	byName := func(o []map[string]any, name string) map[string]any {
		for _, x := range o {
			if x["name"] == name {
				return x
			}
		}
		return nil
	}
	cases := []struct{ name, body, want string }{
		{"not JSON", "hello", "not JSON"},
		{"not a bundle", `{"type":"report","objects":[]}`, "not a STIX bundle"},
		{"wrong STIX types", edit(func(o []map[string]any) []map[string]any { byName(o, "Script Runner")["name"] = 7; return o }), "cannot unmarshal"},
		{"an object without id", edit(func(o []map[string]any) []map[string]any { delete(byName(o, "Script Runner"), "id"); return o }), "no type or no id"},
		{"no ATT&CK ID", edit(func(o []map[string]any) []map[string]any {
			byName(o, "Script Runner")["external_references"] = []any{}
			return o
		}), "has no ATT&CK ID"},
		{"duplicate ids", edit(func(o []map[string]any) []map[string]any { return append(o, byName(o, "Script Runner")) }), "duplicate id"},
		{"relationship to an unknown object", edit(func(o []map[string]any) []map[string]any {
			return append(o, map[string]any{"type": "relationship", "id": "relationship--00000000-0000-0000-0000-00000000aaaa",
				"relationship_type": "subtechnique-of", "source_ref": "attack-pattern--00000000-0000-0000-0000-0000000000c9",
				"target_ref": "attack-pattern--00000000-0000-0000-0000-00000000ffff"})
		}), "does not have"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, status, msg, _, _ := waitSync(t, app, uploadBundle(app, admin, "bad.json", strings.NewReader(tc.body)))
			if status != "failed" || !strings.Contains(msg, tc.want) {
				t.Errorf("status %s, error %q; want failed mentioning %q", status, msg, tc.want)
			}
			if got := testid(doc(t, app.GetAs(admin, "/admin/attack-sync/"+id)), "sync-error"); got != msg {
				t.Errorf("job page shows %q", got)
			}
			if catalogueSum(t, app.DB) != before {
				t.Error("the catalogue changed")
			}
		})
	}
	t.Run("more than 100 MB is refused before any job", func(t *testing.T) {
		var jobs int
		app.DB.QueryRow(`SELECT count(*) FROM attack_syncs`).Scan(&jobs)
		w := uploadBundle(app, admin, "huge.json", io.LimitReader(zeroReader{}, 101<<20))
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
		var after int
		app.DB.QueryRow(`SELECT count(*) FROM attack_syncs`).Scan(&after)
		if after != jobs {
			t.Error("a job was created for a refused upload")
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestAttackSyncFromURL(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	served := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/enterprise-attack-98.0.json" {
			w.Write(data)
			return
		}
		http.NotFound(w, r)
	}))
	defer served.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + closed.Addr().String() + "/x.json"
	closed.Close()

	app := apptest.New(t, apptest.WithHTTPClient(&http.Client{Timeout: 500 * time.Millisecond}))
	admin := app.SignedIn(t, "admin@example.com", "admin")
	cases := []struct{ name, url, status, want string }{
		{"served", served.URL + "/enterprise-attack-98.0.json", "succeeded", ""},
		{"not found", served.URL + "/nothing.json", "failed", "404"},
		{"times out", hang.URL + "/x.json", "failed", "timeout"},
		{"refused", closedURL, "failed", "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, status, msg, _, _ := waitSync(t, app, app.PostAs(admin, "/admin/attack-sync/url", url.Values{"url": {tc.url}}))
			if status != tc.status || !strings.Contains(msg, tc.want) {
				t.Errorf("status %s error %q, want %s mentioning %q", status, msg, tc.status, tc.want)
			}
		})
	}
	t.Run("not a URL", func(t *testing.T) {
		w := app.PostAs(admin, "/admin/attack-sync/url", url.Values{"url": {"ftp://x/y.json"}})
		if w.Code != http.StatusUnprocessableEntity || doc(t, w).Find(`[data-testid="error-url"]`).Length() != 1 {
			t.Errorf("status %d", w.Code)
		}
		if v, _ := doc(t, w).Find(`input[name="url"]`).Attr("value"); v != "ftp://x/y.json" {
			t.Errorf("input not kept: %q", v)
		}
	})
	t.Run("remember as the default", func(t *testing.T) {
		u := served.URL + "/enterprise-attack-98.0.json"
		waitSync(t, app, app.PostAs(admin, "/admin/attack-sync/url", url.Values{"url": {u}, "remember": {"1"}}))
		v, _ := doc(t, app.GetAs(admin, "/admin/attack-sync")).Find(`input[name="url"]`).Attr("value")
		if v != u {
			t.Errorf("default URL %q, want %q", v, u)
		}
	})
	t.Run("only admins", func(t *testing.T) {
		red := app.SignedIn(t, "red@example.com", "redteam")
		var before, after int
		app.DB.QueryRow(`SELECT count(*) FROM attack_syncs`).Scan(&before)
		if w := app.PostAs(red, "/admin/attack-sync/url", url.Values{"url": {served.URL + "/enterprise-attack-98.0.json"}}); w.Code != http.StatusForbidden {
			t.Errorf("redteam: %d", w.Code)
		}
		app.DB.QueryRow(`SELECT count(*) FROM attack_syncs`).Scan(&after)
		if after != before {
			t.Error("a job was created")
		}
	})
}
