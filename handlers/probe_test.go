package handlers_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent/group"
	"violet/ent/missiontest"
	"violet/ent/user"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/demo"
	"violet/internal/testkit/apptest"
)

// probeValues are the values the route probe sends. NUL and invalid UTF-8
// must be refused before anything is written; an over-long and an empty
// value must be answered without a 5xx.
var probeValues = []struct {
	name    string
	value   string
	noWrite bool // the request must change nothing in the database
}{
	{"nul", "probe\x00value", true},
	{"invalid-utf8", "probe\xff\xfevalue", true},
	{"over-long", strings.Repeat("x", 50_001), false}, // past the longest column (50,000)
	{"empty", "", false},
}

// probeParams are the names of every query and form parameter a handler
// reads, harvested from the source (struct tags of the forms, QueryParam
// calls) so that a new parameter is probed without anyone remembering to.
func probeParams(t *testing.T) []string {
	t.Helper()
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`(?:form|query):"([^",]+)"`),
		regexp.MustCompile(`QueryParam\("([^"]+)"\)`),
		regexp.MustCompile(`QueryParams\(\)\["([^"]+)"\]`),
		regexp.MustCompile(`FormValue\("([^"]+)"\)`),
		regexp.MustCompile(`\bq\.Get\("([^"]+)"\)`),
	}
	seen := map[string]bool{}
	for _, glob := range []string{"*.go", "../views/*/*.go"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range patterns {
				for _, m := range re.FindAllSubmatch(src, -1) {
					if name := string(m[1]); name != "-" {
						seen[name] = true
					}
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	// A harvest that finds next to nothing means the patterns broke: the
	// probe would pass while sending nothing.
	if len(names) < 40 {
		t.Fatalf("harvested only %d parameter names: %v", len(names), names)
	}
	return names
}

// probeWorld is a database with something behind every path parameter: the
// demo mission and its accounts, and a viewer who leads that mission and is
// an admin, so that every handler gets past its access checks.
type probeWorld struct {
	app     *apptest.App
	viewer  uuid.UUID
	replace func(path string) string
}

func newProbeWorld(t *testing.T) *probeWorld {
	t.Helper()
	app := apptest.New(t)
	ctx := rule.SystemContext(t.Context())
	res, err := demo.Run(ctx, app.Ent, app.Steps, app.Hasher.Hash, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lead := app.Ent.User.Query().Where(user.Email(demo.LeadEmail)).OnlyX(ctx)
	admin := app.Ent.Group.Query().Where(group.Name(auth.GroupAdmin)).OnlyX(ctx)
	app.Ent.User.UpdateOne(lead).AddGroupIDs(admin.ID).ExecX(ctx)
	tests := app.Ent.MissionTest.Query().Where(missiontest.MissionID(res.MissionID)).IDsX(ctx)
	other := app.User(t, "probe.other@example.com", "observer")
	tpl := app.Ent.TestTemplate.Query().FirstIDX(ctx)
	level := app.Ent.DetectionLevel.Query().FirstIDX(ctx)
	grp := app.Ent.Group.Create().SetName("probe").SaveX(ctx)
	id := func(u uuid.UUID) string { return u.String() }
	// Longest prefixes first: a strings.Replacer tries them in order.
	replace := strings.NewReplacer(
		"/static/*", "/static/missing.css",
		"/missions/:id/members/:user", "/missions/"+id(res.MissionID)+"/members/"+id(other.ID),
		"/missions/:id/categories/:cat", "/missions/"+id(res.MissionID)+"/categories/"+uuid.NewString(),
		"/missions/:id/plan/tests/:test", "/missions/"+id(res.MissionID)+"/plan/tests/"+id(tests[0]),
		"/missions/:id/tests/:test/evidence/:ev", "/missions/"+id(res.MissionID)+"/tests/"+id(tests[0])+"/evidence/"+uuid.NewString(),
		"/missions/:id/tests/:test", "/missions/"+id(res.MissionID)+"/tests/"+id(tests[0]),
		"/missions/:id", "/missions/"+id(res.MissionID),
		"/admin/users/:id", "/admin/users/"+id(other.ID),
		"/admin/groups/:id/permissions/:code", "/admin/groups/"+id(grp.ID)+"/permissions/mission.read",
		"/admin/groups/:id", "/admin/groups/"+id(grp.ID),
		"/admin/detection-levels/:id", "/admin/detection-levels/"+id(level),
		"/library/tests/:id", "/library/tests/"+id(tpl),
		"/attack/:external_id", "/attack/T1059",
		":token", "not-a-token",
		":id", uuid.NewString(),
	)
	return &probeWorld{app: app, viewer: lead.ID, replace: replace.Replace}
}

// cookie is a fresh session of the viewer for each request: some routes
// end sessions.
func (w *probeWorld) cookie(t *testing.T) *http.Cookie {
	return sessionCookie(t, w.app, w.viewer)
}

// fingerprint sums up every table's rows and the newest writing
// transaction among them: an insert or update moves the newest xmin, a
// delete the count. Sessions are left out: using one is a write.
func fingerprint(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'refresh_tokens'
		ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf(`SELECT '%s' || ':' || count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM %q`, name, name))
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	var sum string
	if err := db.QueryRowContext(ctx, `SELECT string_agg(x, ' ') FROM (`+strings.Join(parts, " UNION ALL ")+`) AS t(x)`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestRouteProbe sends every route NUL, invalid UTF-8, an over-long and an
// empty value in every query and form parameter any handler reads (and
// NUL in each path parameter), as a signed-in admin leading the mission:
// no answer is a 5xx, and NUL and invalid UTF-8 write nothing.
func TestRouteProbe(t *testing.T) {
	t.Parallel()
	w := newProbeWorld(t)
	names := probeParams(t)
	routes := w.app.Routes()
	// Routes that end things run last, so that the others meet a live
	// mission and session.
	sort.SliceStable(routes, func(i, j int) bool { return destructive(routes[i].Path) < destructive(routes[j].Path) })
	for _, r := range routes {
		if r.Path == "/events" {
			continue // a stream: covered by handlers/events_test.go
		}
		path := w.replace(r.Path)
		for _, pv := range probeValues {
			// The over-long value goes a few parameters at a time so the
			// body stays under the form limit and reaches the handler.
			batch := len(names)
			if len(pv.value) > 1000 {
				batch = 35
			}
			for start := 0; start < len(names); start += batch {
				values := url.Values{}
				for _, n := range names[start:min(start+batch, len(names))] {
					values.Set(n, pv.value)
				}
				for _, enc := range encodings(r.Method, pv.noWrite) {
					before := ""
					if pv.noWrite {
						before = fingerprint(t, w.app.DB)
					}
					req := probeRequest(t, r.Method, path, values, enc)
					req.AddCookie(w.cookie(t))
					res := w.app.Do(req)
					if res.Code >= 500 {
						t.Errorf("%s %s, %s %s in %d parameters: status %d\n%.300s", r.Method, r.Path, enc, pv.name, len(values), res.Code, res.Body)
					}
					if pv.noWrite {
						if after := fingerprint(t, w.app.DB); after != before {
							t.Errorf("%s %s, %s %s: the database changed (status %d)", r.Method, r.Path, enc, pv.name, res.Code)
						}
						if res.Code < 400 {
							t.Errorf("%s %s, %s %s: status %d, want a refusal", r.Method, r.Path, enc, pv.name, res.Code)
						}
					}
				}
			}
		}
		// NUL in each path parameter.
		for _, seg := range strings.Split(r.Path, "/") {
			if !strings.HasPrefix(seg, ":") {
				continue
			}
			bad := strings.Replace(r.Path, seg, "%00", 1)
			req := probeRequest(t, r.Method, w.replace(bad), nil, "form")
			req.AddCookie(w.cookie(t))
			if res := w.app.Do(req); res.Code >= 500 || res.Code < 400 {
				t.Errorf("%s %s with NUL in %s: status %d", r.Method, r.Path, seg, res.Code)
			}
		}
	}
}

// destructive orders routes: 0 for most, 1 for those that end what the
// others need (the session, the mission, the viewer's groups).
func destructive(path string) int {
	for _, end := range []string{"/logout", "/delete", "/remove", "/status", "/end-others", "/deactivate", "/groups"} {
		if strings.HasSuffix(path, end) {
			return 1
		}
	}
	return 0
}

// encodings are the ways a request carries its parameters: the query for
// GET, an urlencoded form for POST, and for the values refused at the edge
// a multipart form too (echo binds both; only the edge check differs).
func encodings(method string, refused bool) []string {
	switch {
	case method == http.MethodGet:
		return []string{"query"}
	case refused:
		return []string{"form", "multipart"}
	}
	return []string{"form"}
}

func probeRequest(t *testing.T, method, path string, values url.Values, enc string) *http.Request {
	t.Helper()
	var req *http.Request
	switch enc {
	case "query":
		if len(values) > 0 {
			path += "?" + values.Encode()
		}
		req = httptest.NewRequest(method, path, nil)
	case "form":
		req = httptest.NewRequest(method, path, strings.NewReader(values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "multipart":
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for name, vs := range values {
			for _, v := range vs {
				if err := mw.WriteField(name, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A small file under each name the upload routes read, so that
		// they get past "no file" to their text fields.
		for _, name := range []string{"file", "files", "document", "layer", "bundle"} {
			fw, err := mw.CreateFormFile(name, "probe.txt")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = fw.Write([]byte("probe\n"))
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		req = httptest.NewRequest(method, path, &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

// TestSafeMethodsOnPostRoutesWriteNothing sends GET and HEAD to the path of
// every POST route: whatever the answer, nothing is written.
func TestSafeMethodsOnPostRoutesWriteNothing(t *testing.T) {
	t.Parallel()
	w := newProbeWorld(t)
	posts := 0
	for _, r := range w.app.Routes() {
		if r.Method != http.MethodPost {
			continue
		}
		posts++
		path := w.replace(r.Path)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			before := fingerprint(t, w.app.DB)
			req := httptest.NewRequest(method, path, nil)
			req.AddCookie(w.cookie(t))
			res := w.app.Do(req)
			if after := fingerprint(t, w.app.DB); after != before {
				t.Errorf("%s %s (a POST route): the database changed (status %d)", method, r.Path, res.Code)
			}
			if res.Code >= 500 {
				t.Errorf("%s %s (a POST route): status %d", method, r.Path, res.Code)
			}
		}
	}
	if posts < 50 {
		t.Fatalf("only %d POST routes in the table", posts)
	}
}
