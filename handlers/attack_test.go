package handlers_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/i18n"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
	attackviews "violet/views/attack"
)

// attackDataDir holds MITRE's bundles beside the checkout (CI has them).
const attackDataDir = "../../shared/data/attack/"

// attackBundle161 is ATT&CK 16.1, read once for every test that syncs it
// (Sync only reads the bundle).
var attackBundle161 = sync.OnceValues(func() (*attack.Bundle, error) {
	f, err := os.Open(attackDataDir + "enterprise-attack-16.1.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return attack.Read(f, attack.ReadOptions{Version: "16.1"})
})

// attackCatalogue syncs ATT&CK 16.1 into app's database, as the CLI does.
// Without the real data a local run skips; CI requires it.
func attackCatalogue(t testing.TB, app *apptest.App) {
	t.Helper()
	if _, err := os.Stat(attackDataDir + "enterprise-attack-16.1.json"); err != nil {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatalf("real ATT&CK data required: %v", err)
		}
		t.Skipf("no real ATT&CK data here: %v", err)
	}
	b, err := attackBundle161()
	if err != nil {
		t.Fatal(err)
	}
	ctx := rule.SystemContext(context.Background())
	err = database.WithTx(ctx, app.Ent, func(tx *ent.Tx) error {
		_, err := attack.Sync(ctx, tx, b, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// attackStrings runs q and returns the first column of every row.
func attackStrings(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// attackOne runs q and returns its single value.
func attackOne(t testing.TB, db *sql.DB, q string, args ...any) string {
	t.Helper()
	out := attackStrings(t, db, q, args...)
	if len(out) != 1 {
		t.Fatalf("%s: %d rows, want 1", q, len(out))
	}
	return out[0]
}

// attackAttrs returns attribute attr of every element matching sel.
func attackAttrs(d *goquery.Selection, sel, attr string) []string {
	var out []string
	d.Find(sel).Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr(attr, "")) })
	return out
}

// attackText is an element's text with white space collapsed.
func attackText(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

// attackGet requests path and fails unless the answer is 200.
func attackGet(t *testing.T, app *apptest.App, cookie *http.Cookie, path string, header ...string) (*httptest.ResponseRecorder, *goquery.Document) {
	t.Helper()
	w := app.GetAs(cookie, path, header...)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%.300s", path, w.Code, w.Body)
	}
	return w, doc(t, w)
}

const activeTechnique = `NOT t.revoked AND NOT t.deprecated`

func TestAttackAccess(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	observer := app.SignedIn(t, "observer@example.com", "observer")
	nobody := app.SignedIn(t, "nobody@example.com")
	paths := []string{"/attack", "/attack?retired=1", "/attack/search?q=T1059", "/attack/picker?name=tags&q=T1059", "/attack/T1059"}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			w := app.GetAs(nil, path)
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
				t.Errorf("anonymous: %d to %q, want 303 to /login", w.Code, w.Header().Get("Location"))
			}
			if w := app.GetAs(nil, path, hxRequest...); w.Code != http.StatusUnauthorized || w.Header().Get("HX-Redirect") == "" {
				t.Errorf("anonymous htmx: %d, HX-Redirect %q; want 401 with HX-Redirect", w.Code, w.Header().Get("HX-Redirect"))
			}
			if w := app.GetAs(nobody, path); w.Code != http.StatusForbidden {
				t.Errorf("without attack.read: %d, want 403", w.Code)
			}
			w = app.GetAs(observer, path)
			// The catalogue is empty here, so an entry page is 404: the
			// point is that the route let the observer through.
			if want := http.StatusOK; path == "/attack/T1059" {
				if w.Code != http.StatusNotFound {
					t.Errorf("observer: %d, want 404 (empty catalogue)", w.Code)
				}
			} else if w.Code != want {
				t.Errorf("observer: %d, want %d", w.Code, want)
			}
		})
	}
}

// TestAttackMatrixEmpty: before any sync the matrix says what to do, with
// the way to the sync page for those who may use it.
func TestAttackMatrixEmpty(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cases := []struct {
		name     string
		groups   []string
		syncLink bool
	}{
		{"observer", []string{"observer"}, false},
		{"admin", []string{"admin"}, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cookie := app.SignedIn(t, fmt.Sprintf("empty%d@example.com", i), tc.groups...)
			_, d := attackGet(t, app, cookie, "/attack")
			if got := testid(d, "attack-empty"); !strings.Contains(got, "No ATT&CK catalogue yet") {
				t.Errorf("empty state %q", got)
			}
			link := d.Find(`[data-testid="attack-empty-sync"]`)
			if (link.Length() == 1) != tc.syncLink || (tc.syncLink && link.AttrOr("href", "") != "/admin/attack-sync") {
				t.Errorf("sync link shown %v (href %q), want %v", link.Length() == 1, link.AttrOr("href", ""), tc.syncLink)
			}
			if d.Find(`[data-testid="matrix"], [data-testid="attack-search-input"]`).Length() != 0 {
				t.Error("an empty catalogue shows a matrix or a search box")
			}
		})
	}
}

// TestAttackMatrix checks the matrix of ATT&CK 16.1 against the database:
// columns, counts, techniques under every tactic they belong to, nested
// sub-techniques, the retired toggle and the platform filter.
func TestAttackMatrix(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	attackCatalogue(t, app)
	cookie := app.SignedIn(t, "viewer@example.com", "observer")
	_, page := attackGet(t, app, cookie, "/attack")

	// What the database says, for active entries.
	pairs := map[string]bool{} // "TA0002 T1059"
	perTactic := map[string]int{}
	for _, p := range attackStrings(t, app.DB, `SELECT ta.external_id || ' ' || t.external_id
		FROM mitre_technique_tactics tt JOIN mitre_tactics ta ON ta.id = tt.tactic_id
		JOIN mitre_techniques t ON t.id = tt.technique_id WHERE `+activeTechnique) {
		pairs[p] = true
		perTactic[strings.Fields(p)[0]]++
	}
	subsOf := map[string][]string{}
	for _, p := range attackStrings(t, app.DB, `SELECT t.external_id || ' ' || s.external_id FROM mitre_subtechniques s
		JOIN mitre_techniques t ON t.id = s.technique_id WHERE NOT s.revoked AND NOT s.deprecated AND `+activeTechnique+`
		ORDER BY s.external_id`) {
		f := strings.Fields(p)
		subsOf[f[0]] = append(subsOf[f[0]], f[1])
	}

	t.Run("fourteen tactics in matrix order", func(t *testing.T) {
		cols := attackAttrs(page.Selection, `[data-testid="matrix-column"]`, "data-external-id")
		want := attackStrings(t, app.DB, `SELECT external_id FROM mitre_tactics WHERE NOT revoked AND NOT deprecated ORDER BY position`)
		if len(cols) != 14 || cols[0] != "TA0043" || cols[13] != "TA0040" || !slices.Equal(cols, want) {
			t.Errorf("columns %v, want the 14 tactics TA0043 … TA0040: %v", cols, want)
		}
		if got := attackText(page.Find(`[data-testid="matrix-column"]`).First().Find(`[data-testid="matrix-tactic"]`)); got != "Reconnaissance" {
			t.Errorf("first column named %q", got)
		}
	})

	t.Run("per-tactic counts match the database", func(t *testing.T) {
		page.Find(`[data-testid="matrix-column"]`).Each(func(_ int, col *goquery.Selection) {
			id := col.AttrOr("data-external-id", "")
			shown := col.Find(`[data-testid="matrix-technique"]`).Length()
			count := col.Find(`[data-testid="matrix-column-count"]`).AttrOr("data-count", "")
			if shown != perTactic[id] || count != fmt.Sprint(perTactic[id]) || perTactic[id] == 0 {
				t.Errorf("%s: %d techniques shown, count %s, database %d", id, shown, count, perTactic[id])
			}
		})
		distinct := attackOne(t, app.DB, `SELECT count(DISTINCT t.id) FROM mitre_techniques t
			JOIN mitre_technique_tactics tt ON tt.technique_id = t.id WHERE `+activeTechnique)
		if got := testid(page, "attack-matrix-count"); !strings.HasPrefix(got, distinct+" techniques") {
			t.Errorf("matrix count %q, want %s techniques", got, distinct)
		}
	})

	t.Run("every technique under each of its tactics", func(t *testing.T) {
		got := map[string]bool{}
		page.Find(`[data-testid="matrix-column"]`).Each(func(_ int, col *goquery.Selection) {
			for _, id := range attackAttrs(col, `[data-testid="matrix-technique"]`, "data-external-id") {
				got[col.AttrOr("data-external-id", "")+" "+id] = true
			}
		})
		for p := range pairs {
			if !got[p] {
				t.Errorf("missing %s", p)
			}
		}
		for p := range got {
			if !pairs[p] {
				t.Errorf("unexpected %s", p)
			}
		}
		// T1078 Valid Accounts sits under four tactics.
		var under []string
		page.Find(`[data-testid="matrix-technique"][data-external-id="T1078"]`).Each(func(_ int, s *goquery.Selection) {
			under = append(under, s.Closest(`[data-testid="matrix-column"]`).AttrOr("data-external-id", ""))
		})
		if !slices.Equal(under, []string{"TA0001", "TA0003", "TA0004", "TA0005"}) {
			t.Errorf("T1078 under %v", under)
		}
	})

	t.Run("techniques by name with their ID", func(t *testing.T) {
		page.Find(`[data-testid="matrix-column"]`).Each(func(_ int, col *goquery.Selection) {
			var names []string
			col.Find(`[data-testid="matrix-technique"] > a`).Each(func(_ int, a *goquery.Selection) {
				names = append(names, strings.ToLower(attackText(a.Find("span").Last())))
			})
			if !sort.StringsAreSorted(names) {
				t.Errorf("%s not sorted by name: %v", col.AttrOr("data-external-id", ""), names)
			}
		})
		link := page.Find(`[data-testid="matrix-technique"][data-external-id="T1059"] > a`).First()
		if got := attackText(link); got != "T1059 Command and Scripting Interpreter" || link.AttrOr("href", "") != "/attack/T1059" {
			t.Errorf("T1059 shown as %q -> %q", got, link.AttrOr("href", ""))
		}
	})

	t.Run("sub-techniques nested under their technique", func(t *testing.T) {
		page.Find(`[data-testid="matrix-technique"]`).Each(func(_ int, s *goquery.Selection) {
			id := s.AttrOr("data-external-id", "")
			got := attackAttrs(s, `[data-testid="matrix-subtechnique"]`, "data-external-id")
			if !slices.Equal(got, subsOf[id]) {
				t.Errorf("%s: sub-techniques %v, want %v", id, got, subsOf[id])
			}
			if len(got) > 0 && s.Find(`details[data-testid="matrix-subtechniques"] > summary`).Length() != 1 {
				t.Errorf("%s: sub-techniques not in a <details>", id)
			}
		})
		if n := len(subsOf["T1059"]); n < 9 || page.Find(`[data-testid="matrix-technique"][data-external-id="T1059"] summary`).First().Text() != fmt.Sprintf("%d sub-techniques", n) {
			t.Errorf("T1059 summary %q for %d sub-techniques", page.Find(`[data-external-id="T1059"] summary`).First().Text(), n)
		}
	})

	t.Run("retired entries hidden unless asked for", func(t *testing.T) {
		revoked := attackStrings(t, app.DB, `SELECT t.external_id FROM mitre_techniques t WHERE t.revoked
			AND EXISTS (SELECT 1 FROM mitre_technique_tactics tt WHERE tt.technique_id = t.id) ORDER BY 1`)
		deprecated := attackStrings(t, app.DB, `SELECT t.external_id FROM mitre_techniques t WHERE t.deprecated AND NOT t.revoked
			AND EXISTS (SELECT 1 FROM mitre_technique_tactics tt WHERE tt.technique_id = t.id) ORDER BY 1`)
		if len(revoked) == 0 || len(deprecated) == 0 {
			t.Fatalf("16.1 has %d revoked and %d deprecated techniques with tactics; the test needs some", len(revoked), len(deprecated))
		}
		if n := page.Find(`[data-testid="badge-revoked"], [data-testid="badge-deprecated"]`).Length(); n != 0 {
			t.Errorf("default matrix shows %d retired badges", n)
		}
		for _, id := range []string{revoked[0], deprecated[0]} {
			if page.Find(`[data-external-id="`+id+`"]`).Length() != 0 {
				t.Errorf("%s shown by default", id)
			}
		}
		if href := page.Find(`[data-testid="attack-toggle-retired"]`).AttrOr("href", ""); href != "/attack?retired=1" {
			t.Fatalf("toggle goes to %q", href)
		}
		_, all := attackGet(t, app, cookie, "/attack?retired=1")
		if s := all.Find(`[data-testid="matrix-technique"][data-external-id="` + revoked[0] + `"]`); s.Length() == 0 || s.Find(`[data-testid="badge-revoked"]`).Length() == 0 {
			t.Errorf("%s not shown as revoked with ?retired=1", revoked[0])
		}
		if s := all.Find(`[data-testid="matrix-technique"][data-external-id="` + deprecated[0] + `"]`); s.Length() == 0 || s.Find(`[data-testid="badge-deprecated"]`).Length() == 0 {
			t.Errorf("%s not shown as deprecated with ?retired=1", deprecated[0])
		}
		withTactics := attackOne(t, app.DB, `SELECT count(DISTINCT technique_id) FROM mitre_technique_tactics`)
		if got := testid(all, "attack-matrix-count"); !strings.HasPrefix(got, withTactics+" techniques") {
			t.Errorf("with retired: %q, want %s techniques", got, withTactics)
		}
		if href := all.Find(`[data-testid="attack-toggle-retired"]`).AttrOr("href", ""); href != "/attack" {
			t.Errorf("toggle back goes to %q", href)
		}
	})

	t.Run("platform filter", func(t *testing.T) {
		options := attackAttrs(page.Selection, `[data-testid="attack-platform"] option`, "value")
		if len(options) < 5 || options[0] != "" || !slices.Contains(options, "Windows") || !slices.Contains(options, "Containers") {
			t.Fatalf("platform options %v", options)
		}
		for _, platform := range []string{"Containers", "Windows", "PRE", "SaaS"} {
			want := attackStrings(t, app.DB, `SELECT t.external_id FROM mitre_techniques t WHERE `+activeTechnique+`
				AND EXISTS (SELECT 1 FROM mitre_technique_tactics tt WHERE tt.technique_id = t.id)
				AND (t.platforms ? $1 OR EXISTS (SELECT 1 FROM mitre_subtechniques s WHERE s.technique_id = t.id
					AND NOT s.revoked AND NOT s.deprecated AND s.platforms ? $1)) ORDER BY 1`, platform)
			subsWith := map[string]bool{}
			for _, id := range attackStrings(t, app.DB, `SELECT external_id FROM mitre_subtechniques WHERE platforms ? $1`, platform) {
				subsWith[id] = true
			}
			_, d := attackGet(t, app, cookie, "/attack?platform="+url.QueryEscape(platform))
			var got []string
			d.Find(`[data-testid="matrix-technique"]`).Each(func(_ int, s *goquery.Selection) {
				if id := s.AttrOr("data-external-id", ""); !slices.Contains(got, id) {
					got = append(got, id)
				}
				for _, sub := range attackAttrs(s, `[data-testid="matrix-subtechnique"]`, "data-external-id") {
					if !subsWith[sub] {
						t.Errorf("%s: sub-technique %s shown without the platform", platform, sub)
					}
				}
			})
			sort.Strings(got)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s: techniques %v, want %v", platform, got, want)
			}
			if sel := d.Find(`[data-testid="attack-platform"] option[selected]`).AttrOr("value", ""); sel != platform {
				t.Errorf("%s: selected option %q", platform, sel)
			}
		}
		// T1059 has no SaaS platform of its own; its sub-technique
		// T1059.009 Cloud API has.
		_, d := attackGet(t, app, cookie, "/attack?platform=SaaS")
		if s := d.Find(`[data-testid="matrix-technique"][data-external-id="T1059"]`); s.Length() == 0 ||
			!slices.Equal(attackAttrs(s.First(), `[data-testid="matrix-subtechnique"]`, "data-external-id"), []string{"T1059.009"}) {
			t.Errorf("T1059 not shown through its SaaS sub-technique alone")
		}
		_, unknown := attackGet(t, app, cookie, "/attack?platform=Amiga")
		if testid(unknown, "attack-matrix-count") != testid(page, "attack-matrix-count") ||
			unknown.Find(`[data-testid="attack-platform"] option[selected]`).Length() != 0 {
			t.Error("an unknown platform filters the matrix")
		}
	})

	t.Run("htmx gets the matrix only", func(t *testing.T) {
		w, d := attackGet(t, app, cookie, "/attack?platform=Windows", hxRequest...)
		if !isFragment(w.Body.String()) || !strings.HasPrefix(strings.TrimSpace(w.Body.String()), `<div id="attack-matrix"`) {
			t.Errorf("partial is not the matrix fragment: %.200s", w.Body)
		}
		if d.Find(`[data-testid="matrix-column"]`).Length() != 14 {
			t.Error("partial has no columns")
		}
		if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "HX-Request") {
			t.Error("no Vary: HX-Request")
		}
	})

	t.Run("search box on the matrix page", func(t *testing.T) {
		in := page.Find(`[data-testid="attack-search-input"]`)
		if _, ok := in.Attr("data-search"); !ok || in.AttrOr("hx-get", "") != "/attack/search" ||
			in.AttrOr("hx-trigger", "") != "input changed delay:200ms, search" || in.AttrOr("hx-push-url", "") != "true" ||
			in.AttrOr("hx-target", "") != "#attack-search-results" || page.Find("#attack-search-results").Length() != 1 {
			t.Errorf("search box not wired: %v", in.Nodes[0].Attr)
		}
	})
}

// TestAttackQueryCount: the matrix, search and entry pages send the same
// number of SQL statements for a catalogue of three entries as for the
// whole of ATT&CK (no N+1), and the matrix needs at most four.
func TestAttackQueryCount(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	cookie := app.SignedIn(t, "viewer@example.com", "observer")
	ctx := rule.SystemContext(context.Background())
	ta := app.Ent.MitreTactic.Create().SetStixID("x-mitre-tactic--" + uuid.NewString()).SetExternalID("TA0002").
		SetName("Execution").SetShortname("execution").SetPosition(1).SaveX(ctx)
	te := app.Ent.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1059").
		SetName("Command and Scripting Interpreter").AddTactics(ta).SaveX(ctx)
	app.Ent.MitreSubtechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1059.001").
		SetName("PowerShell").SetTechnique(te).SaveX(ctx)

	// The overlays: a mission the viewer reads, and a template. They add
	// one statement (library) or two (mission: the missions to choose
	// from, the results), whatever the size of the catalogue.
	mid := attackOne(t, app.DB, `INSERT INTO missions (name) VALUES ('Budget') RETURNING id`)
	attackOne(t, app.DB, `INSERT INTO mission_members (mission_id, user_id, role)
		SELECT $1, id, 'observer' FROM users WHERE email = 'viewer@example.com' RETURNING id`, mid)
	mtest := attackOne(t, app.DB, `INSERT INTO mission_tests (mission_id, name, platforms) VALUES ($1, 'x', '[]') RETURNING id`, mid)
	attackOne(t, app.DB, `INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name)
		VALUES ($1, 'technique', 'T1059', 'x') RETURNING id`, mtest)
	// The template's technique is none of ATT&CK 16.1's, so that the
	// pages of T1059 list the same uses before and after the sync.
	own := app.Ent.MitreTechnique.Create().SetStixID("attack-pattern--" + uuid.NewString()).SetExternalID("T1999").
		SetName("Own technique").AddTactics(ta).SaveX(ctx)
	tpl := attackOne(t, app.DB, `INSERT INTO test_templates (name, platforms) VALUES ('x', '[]') RETURNING id`)
	attackOne(t, app.DB, `INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $2) RETURNING id`, tpl, own.ID)

	srv, n := countingServer(t, app)
	count := func(path string) (int64, *goquery.Document) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		before := n.Count()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		return n.Count() - before, doc(t, w)
	}
	paths := []string{"/attack", "/attack?retired=1&platform=Windows", "/attack/search?q=t10", "/attack/T1059", "/attack/T1059.001", "/attack/TA0002",
		"/attack?overlay=library", "/attack?overlay=mission&mission=" + mid}
	overlay := map[string]int64{"/attack?overlay=library": 1, "/attack?overlay=mission&mission=" + mid: 2}
	small := map[string]int64{}
	for _, p := range paths {
		small[p], _ = count(p)
	}
	attackCatalogue(t, app)
	for _, p := range paths {
		full, d := count(p)
		if full < 1 {
			t.Fatalf("%s: no statement counted", p)
		}
		if full != small[p] {
			t.Errorf("%s: %d statements for 3 entries, %d for ATT&CK 16.1", p, small[p], full)
		}
		if strings.HasPrefix(p, "/attack?") || p == "/attack" {
			if full > 4+overlay[p] {
				t.Errorf("%s: %d statements, want at most %d", p, full, 4+overlay[p])
			}
			if cols := d.Find(`[data-testid="matrix-column"]`).Length(); cols < 14 {
				t.Errorf("%s: the counting server shows %d columns", p, cols)
			}
		}
		t.Logf("%s: %d statements", p, full)
	}
}

// attackHits returns the search results' ATT&CK IDs in order.
func attackHits(d *goquery.Document) []string {
	return attackAttrs(d.Selection, `[data-testid="attack-hit"]`, "data-external-id")
}

func TestAttackSearch(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	attackCatalogue(t, app)
	cookie := app.SignedIn(t, "viewer@example.com", "redteam")
	t1059 := attackStrings(t, app.DB, `SELECT external_id FROM mitre_subtechniques WHERE external_id LIKE 'T1059.%' ORDER BY 1`)

	cases := []struct {
		name  string
		q     string
		check func(t *testing.T, ids []string, d *goquery.Document)
	}{
		{"ID prefix, lower case", "t1059", func(t *testing.T, ids []string, d *goquery.Document) {
			if want := append([]string{"T1059"}, t1059...); !slices.Equal(ids, want) {
				t.Errorf("results %v, want %v", ids, want)
			}
			if k := d.Find(`[data-testid="attack-hit"]`).First().AttrOr("data-kind", ""); k != "technique" {
				t.Errorf("T1059 kind %q", k)
			}
			sub := d.Find(`[data-testid="attack-hit"][data-external-id="T1059.001"]`)
			if got := attackText(sub.Find("a")); got != "T1059.001 Command and Scripting Interpreter: PowerShell" ||
				sub.Find("a").AttrOr("href", "") != "/attack/T1059.001" {
				t.Errorf("T1059.001 shown as %q", got)
			}
		}},
		{"sub-technique ID", "T1059.00", func(t *testing.T, ids []string, _ *goquery.Document) {
			if len(ids) == 0 || ids[0] != "T1059.001" || slices.Contains(ids, "T1059") {
				t.Errorf("results %v", ids)
			}
		}},
		{"tactic ID", "ta0002", func(t *testing.T, ids []string, d *goquery.Document) {
			if !slices.Equal(ids, []string{"TA0002"}) || d.Find(`[data-testid="attack-hit"]`).AttrOr("data-kind", "") != "tactic" {
				t.Errorf("results %v", ids)
			}
		}},
		{"name, any case", "POWERSHELL", func(t *testing.T, ids []string, _ *goquery.Document) {
			if !slices.Contains(ids, "T1059.001") {
				t.Errorf("PowerShell not found: %v", ids)
			}
		}},
		{"tactic by name, exact ID before names", "execution", func(t *testing.T, ids []string, d *goquery.Document) {
			if !slices.Contains(ids, "TA0002") || !slices.Contains(ids, "T1203") {
				t.Errorf("Execution tactic or Exploitation for Client Execution missing: %v", ids)
			}
		}},
		{"ID matches before name matches", "T1", func(t *testing.T, ids []string, _ *goquery.Document) {
			if len(ids) != attackviews.SearchLimit || ids[0] != "T1001" || !sort.StringsAreSorted(ids) {
				t.Errorf("results %v", ids)
			}
		}},
		{"at most 50, and says so", "e", func(t *testing.T, ids []string, d *goquery.Document) {
			if len(ids) != attackviews.SearchLimit || !strings.Contains(testid(d, "attack-search-count"), "first 50") {
				t.Errorf("%d results, count %q", len(ids), testid(d, "attack-search-count"))
			}
		}},
		{"nothing", "zzzzqqq", func(t *testing.T, ids []string, d *goquery.Document) {
			if len(ids) != 0 || !strings.Contains(testid(d, "attack-search-count"), "zzzzqqq") {
				t.Errorf("results %v, count %q", ids, testid(d, "attack-search-count"))
			}
		}},
		{"LIKE wildcards are literal", "T_05%", func(t *testing.T, ids []string, _ *goquery.Document) {
			if len(ids) != 0 {
				t.Errorf("wildcards matched %v", ids)
			}
		}},
		{"blank", "   ", func(t *testing.T, ids []string, d *goquery.Document) {
			if len(ids) != 0 || d.Find(`[data-testid="attack-search-count"]`).Length() != 0 {
				t.Errorf("a blank search shows results")
			}
		}},
		{"retired included and marked", "T1066", func(t *testing.T, ids []string, d *goquery.Document) {
			hit := d.Find(`[data-testid="attack-hit"][data-external-id="T1066"]`)
			if len(ids) != 1 || hit.Find(`[data-testid="badge-revoked"]`).Length() != 1 || !hit.HasClass("is-retired") {
				t.Errorf("revoked T1066 not marked: %v", ids)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, d := attackGet(t, app, cookie, "/attack/search?q="+url.QueryEscape(tc.q))
			tc.check(t, attackHits(d), d)
		})
	}

	t.Run("exact ID, then ID prefix, then name", func(t *testing.T) {
		// A name that holds an ID comes after the ID's own matches.
		if _, err := app.DB.Exec(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms)
			VALUES ('attack-pattern--00000000-0000-4000-8000-000000000002', 'T9990', 'Beyond T1003 dumping', '[]')`); err != nil {
			t.Fatal(err)
		}
		_, d := attackGet(t, app, cookie, "/attack/search?q=T1003")
		subs := attackStrings(t, app.DB, `SELECT external_id FROM mitre_subtechniques WHERE external_id LIKE 'T1003.%' ORDER BY 1`)
		if want := append(append([]string{"T1003"}, subs...), "T9990"); !slices.Equal(attackHits(d), want) {
			t.Errorf("T1003 results %v, want %v", attackHits(d), want)
		}
		// Name matches alone come by name.
		_, d = attackGet(t, app, cookie, "/attack/search?q=credential")
		names := attackAttrs(d.Selection, `[data-testid="attack-hit"]`, "data-name")
		for i := range names {
			names[i] = strings.ToLower(names[i])
		}
		if len(names) < 5 || !sort.StringsAreSorted(names) {
			t.Errorf("credential: %v", names)
		}
	})

	t.Run("htmx partial and full page", func(t *testing.T) {
		w, d := attackGet(t, app, cookie, "/attack/search?q=T1059", hxRequest...)
		body := strings.TrimSpace(w.Body.String())
		if !isFragment(body) || !strings.HasPrefix(body, `<div id="attack-search-results"`) || len(attackHits(d)) == 0 {
			t.Errorf("partial: %.200s", body)
		}
		w, d = attackGet(t, app, cookie, "/attack/search?q=T1059")
		if isFragment(w.Body.String()) || d.Find(`[data-testid="attack-search-input"]`).AttrOr("value", "") != "T1059" ||
			len(attackHits(d)) == 0 || d.Find("title").Text() != "Search ATT&CK · Violet" {
			t.Errorf("full page lacks the box with the query or the results")
		}
	})
}

// TestAttackDetail opens entries of every kind, a retired one, unknown IDs,
// and a description holding markup that must stay inert.
func TestAttackDetail(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	attackCatalogue(t, app)
	cookie := app.SignedIn(t, "viewer@example.com", "blueteam")

	cases := []struct {
		name   string
		path   string
		status int
		check  func(t *testing.T, d *goquery.Document)
	}{
		{"technique", "/attack/T1059", http.StatusOK, func(t *testing.T, d *goquery.Document) {
			if got := testid(d, "attack-title"); got != "T1059 Command and Scripting Interpreter" {
				t.Errorf("title %q", got)
			}
			if testid(d, "attack-kind") != "Technique" || testid(d, "attack-version") != "16.1" {
				t.Errorf("kind %q, version %q", testid(d, "attack-kind"), testid(d, "attack-version"))
			}
			if got := attackAttrs(d.Selection, `[data-testid="attack-tactic"]`, "data-external-id"); !slices.Equal(got, []string{"TA0002"}) {
				t.Errorf("tactics %v", got)
			}
			subs := attackStrings(t, app.DB, `SELECT external_id FROM mitre_subtechniques WHERE external_id LIKE 'T1059.%' ORDER BY 1`)
			if got := attackAttrs(d.Selection, `[data-testid="attack-child"]`, "data-external-id"); !slices.Equal(got, subs) {
				t.Errorf("sub-techniques %v, want %v", got, subs)
			}
			if !strings.Contains(testid(d, "attack-platforms"), "Windows") {
				t.Errorf("platforms %q", testid(d, "attack-platforms"))
			}
			link := d.Find(`[data-testid="attack-mitre-link"]`)
			if link.AttrOr("href", "") != "https://attack.mitre.org/techniques/T1059" || link.AttrOr("rel", "") != "noopener noreferrer" ||
				link.AttrOr("target", "") != "_blank" {
				t.Errorf("MITRE link %v", link.Nodes[0].Attr)
			}
			desc := d.Find(`[data-testid="attack-description"] div.markdown[hx-disable]`)
			if !strings.Contains(desc.Text(), "Adversaries may abuse command and script interpreters") ||
				strings.Contains(desc.Text(), "(Citation:") || desc.Find("a").Length() == 0 {
				t.Errorf("description not rendered: %.300s", desc.Text())
			}
			if d.Find("title").Text() != "T1059 Command and Scripting Interpreter · Violet" {
				t.Errorf("page title %q", d.Find("title").Text())
			}
			if _, err := time.Parse(time.RFC3339, d.Find(`[data-testid="attack-modified"]`).AttrOr("datetime", "")); err != nil {
				t.Errorf("last modified: %v", err)
			}
		}},
		{"technique, lower-case ID", "/attack/t1059", http.StatusOK, func(t *testing.T, d *goquery.Document) {
			if testid(d, "attack-title") != "T1059 Command and Scripting Interpreter" {
				t.Errorf("title %q", testid(d, "attack-title"))
			}
		}},
		{"sub-technique", "/attack/T1059.001", http.StatusOK, func(t *testing.T, d *goquery.Document) {
			if testid(d, "attack-title") != "T1059.001 PowerShell" || testid(d, "attack-kind") != "Sub-technique" {
				t.Errorf("title %q kind %q", testid(d, "attack-title"), testid(d, "attack-kind"))
			}
			if p := d.Find(`[data-testid="attack-parent"]`); p.AttrOr("href", "") != "/attack/T1059" {
				t.Errorf("parent link %q", p.AttrOr("href", ""))
			}
			if got := attackAttrs(d.Selection, `[data-testid="attack-tactic"]`, "data-external-id"); !slices.Equal(got, []string{"TA0002"}) {
				t.Errorf("tactics (the parent's) %v", got)
			}
			if d.Find(`[data-testid="attack-children"]`).Length() != 0 {
				t.Error("a sub-technique lists children")
			}
		}},
		{"tactic", "/attack/TA0002", http.StatusOK, func(t *testing.T, d *goquery.Document) {
			if testid(d, "attack-title") != "TA0002 Execution" || testid(d, "attack-kind") != "Tactic" {
				t.Errorf("title %q kind %q", testid(d, "attack-title"), testid(d, "attack-kind"))
			}
			want := attackOne(t, app.DB, `SELECT count(*) FROM mitre_technique_tactics tt JOIN mitre_tactics ta ON ta.id = tt.tactic_id WHERE ta.external_id = 'TA0002'`)
			if got := d.Find(`[data-testid="attack-child"]`).Length(); fmt.Sprint(got) != want || testid(d, "attack-children-count") != want {
				t.Errorf("%d techniques (count %s), database %s", got, testid(d, "attack-children-count"), want)
			}
			first := d.Find(`[data-testid="attack-child"]`).First()
			if first.Find(`[data-testid^="badge-"]`).Length() != 0 {
				t.Error("retired techniques listed before active ones")
			}
			if d.Find(`[data-testid="attack-platforms"]`).Length() != 0 {
				t.Error("a tactic lists platforms")
			}
		}},
		{"revoked, replaced by a sub-technique", "/attack/T1066", http.StatusOK, func(t *testing.T, d *goquery.Document) {
			if d.Find(`[data-testid="badge-revoked"]`).Length() == 0 || d.Find(`[data-testid="attack-revoked-notice"]`).Length() != 1 {
				t.Error("not marked revoked")
			}
			if r := d.Find(`[data-testid="attack-replaced-by"]`); r.AttrOr("href", "") != "/attack/T1027.005" ||
				!strings.Contains(attackText(r), "T1027.005") {
				t.Errorf("replacement %q -> %q", attackText(r), r.AttrOr("href", ""))
			}
		}},
		{"deprecated", "/attack/T1064", http.StatusOK, func(t *testing.T, d *goquery.Document) {
			if d.Find(`[data-testid="attack-deprecated-notice"]`).Length() != 1 || d.Find(`[data-testid="attack-replaced-by"]`).Length() != 0 {
				t.Error("deprecated T1064 not marked")
			}
		}},
		{"unknown technique", "/attack/T9999", http.StatusNotFound, nil},
		{"unknown sub-technique", "/attack/T1059.999", http.StatusNotFound, nil},
		{"unknown tactic", "/attack/TA9999", http.StatusNotFound, nil},
		{"not an ATT&CK ID", "/attack/nonsense", http.StatusNotFound, nil},
		{"malformed sub-technique", "/attack/T1059.1", http.StatusNotFound, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := app.GetAs(cookie, tc.path)
			if w.Code != tc.status {
				t.Fatalf("GET %s: %d, want %d", tc.path, w.Code, tc.status)
			}
			if tc.check != nil {
				tc.check(t, doc(t, w))
			}
		})
	}

	t.Run("the active row wins over a retired duplicate", func(t *testing.T) {
		if _, err := app.DB.Exec(`INSERT INTO mitre_techniques (stix_id, external_id, name, platforms, revoked, stix_modified)
			VALUES ('attack-pattern--00000000-0000-4000-8000-000000000001', 'T1059', 'Old Interpreter', '[]', true, now())`); err != nil {
			t.Fatal(err)
		}
		_, d := attackGet(t, app, cookie, "/attack/T1059")
		if testid(d, "attack-title") != "T1059 Command and Scripting Interpreter" || d.Find(`[data-testid="badge-revoked"]`).Length() != 0 {
			t.Errorf("title %q: the retired duplicate was shown", testid(d, "attack-title"))
		}
	})

	t.Run("markdown in a description is inert", func(t *testing.T) {
		evil := "Plain **bold** text.\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1)) " +
			"<img src=x onerror=alert(1)> <a href=\"https://evil.example\" onclick=\"alert(1)\">x</a> " +
			"[ok](https://example.com/page) <div hx-get=\"/logout\" hx-trigger=\"load\">h</div>"
		if _, err := app.DB.Exec(`UPDATE mitre_subtechniques SET description = $1 WHERE external_id = 'T1059.001'`, evil); err != nil {
			t.Fatal(err)
		}
		w, d := attackGet(t, app, cookie, "/attack/T1059.001")
		desc := d.Find(`[data-testid="attack-description"]`)
		html, _ := desc.Html()
		for _, bad := range []string{"<script", "javascript:", "onerror", "onclick", "hx-get", "hx-trigger", "<img"} {
			if strings.Contains(strings.ToLower(html), bad) {
				t.Errorf("description holds %q:\n%s", bad, html)
			}
		}
		if desc.Find("div.markdown[hx-disable] strong").Text() != "bold" {
			t.Errorf("markdown not rendered:\n%s", html)
		}
		if a := desc.Find(`a[href="https://example.com/page"]`); !strings.Contains(a.AttrOr("rel", ""), "nofollow") ||
			!strings.Contains(a.AttrOr("rel", ""), "noopener") {
			t.Errorf("link rel %q", a.AttrOr("rel", ""))
		}
		if strings.Count(w.Body.String(), "<script") != 2 {
			t.Errorf("the page has %d <script> tags, want the layout's 2", strings.Count(w.Body.String(), "<script"))
		}
	})
}

// TestAttackUsedBy puts templates and mission tests in the database with
// SQL and checks what an entry's page lists to whom: deleted templates,
// deleted tests and tests of deleted missions never; missions only to their
// members or to mission.read_all.
func TestAttackUsedBy(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	attackCatalogue(t, app)
	member := app.User(t, "member@example.com", "observer")
	app.User(t, "outsider@example.com", "observer")
	app.User(t, "root@example.com", "admin")
	catalogueReader(t, app, "catalogue-only")
	app.User(t, "catalogue@example.com", "catalogue-only")

	exec := func(q string, args ...any) string {
		t.Helper()
		var id string
		if err := app.DB.QueryRow(q+` RETURNING id`, args...).Scan(&id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return id
	}
	technique := attackOne(t, app.DB, `SELECT id FROM mitre_techniques WHERE external_id = 'T1059' AND NOT revoked`)
	sub := attackOne(t, app.DB, `SELECT id FROM mitre_subtechniques WHERE external_id = 'T1059.001'`)
	tactic := attackOne(t, app.DB, `SELECT id FROM mitre_tactics WHERE external_id = 'TA0002'`)
	tpl := func(name string, deleted bool) string {
		q := `INSERT INTO test_templates (name, platforms) VALUES ($1, '[]')`
		if deleted {
			q = `INSERT INTO test_templates (name, platforms, deleted_at) VALUES ($1, '[]', now())`
		}
		return exec(q, name)
	}
	bTpl, aTpl, goneTpl, subTpl := tpl("B interpreter test", false), tpl("A interpreter test", false), tpl("Deleted test", true), tpl("PowerShell test", false)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $2)`, aTpl, technique)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $2)`, bTpl, technique)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, technique_id) VALUES ($1, $2)`, goneTpl, technique)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) VALUES ($1, $2)`, subTpl, sub)
	exec(`INSERT INTO test_template_mitre_tags (test_template_id, tactic_id) VALUES ($1, $2)`, aTpl, tactic)

	mine := exec(`INSERT INTO missions (name) VALUES ('Mission Mine')`)
	other := exec(`INSERT INTO missions (name) VALUES ('Mission Other')`)
	gone := exec(`INSERT INTO missions (name, deleted_at) VALUES ('Mission Gone', now())`)
	exec(`INSERT INTO mission_members (mission_id, user_id, role) VALUES ($1, $2, 'observer')`, mine, member.ID)
	mtest := func(mission, name string, deleted bool, externalID string) string {
		q := `INSERT INTO mission_tests (mission_id, name, platforms) VALUES ($1, $2, '[]')`
		if deleted {
			q = `INSERT INTO mission_tests (mission_id, name, platforms, deleted_at) VALUES ($1, $2, '[]', now())`
		}
		id := exec(q, mission, name)
		exec(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name) VALUES ($1, 'technique', $2, 'Command')`, id, externalID)
		return id
	}
	mineTest := mtest(mine, "Run cmd", false, "T1059")
	otherTest := mtest(other, "Run bash", false, "T1059")
	mtest(mine, "Deleted run", true, "T1059")
	mtest(gone, "Run in a deleted mission", false, "T1059")
	psTest := mtest(mine, "Run PowerShell", false, "T1059.001")

	cases := []struct {
		name         string
		email        string
		path         string
		templates    []string // nil: the list is not shown
		missionTests []string // nil: the list is not shown
	}{
		// A technique's page includes its sub-techniques' uses (the
		// PowerShell template and test), each once.
		{"member sees templates and own mission", "member@example.com", "/attack/T1059", []string{aTpl, bTpl, subTpl}, []string{psTest, mineTest}},
		{"outsider sees no mission", "outsider@example.com", "/attack/T1059", []string{aTpl, bTpl, subTpl}, []string{}},
		{"admin sees every live mission", "root@example.com", "/attack/T1059", []string{aTpl, bTpl, subTpl}, []string{psTest, otherTest, mineTest}},
		{"catalogue only sees neither list", "catalogue@example.com", "/attack/T1059", nil, nil},
		{"sub-technique", "member@example.com", "/attack/T1059.001", []string{subTpl}, []string{psTest}},
		{"tactic", "root@example.com", "/attack/TA0002", []string{aTpl}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, d := attackGet(t, app, app.Login(t, tc.email, apptest.Password), tc.path)
			got := attackAttrs(d.Selection, `[data-testid="attack-template"]`, "data-id")
			if shown := d.Find(`[data-testid="attack-templates-count"]`).Length() == 1; shown != (tc.templates != nil) || !slices.Equal(got, tc.templates) {
				t.Errorf("templates %v (list shown %v), want %v", got, shown, tc.templates)
			}
			if tc.templates != nil && testid(d, "attack-templates-count") != fmt.Sprint(len(tc.templates)) {
				t.Errorf("template count %q", testid(d, "attack-templates-count"))
			}
			for _, id := range got {
				if href := d.Find(`[data-testid="attack-template"][data-id="`+id+`"] a`).AttrOr("href", ""); href != "/library/tests/"+id {
					t.Errorf("template link %q", href)
				}
			}
			got = attackAttrs(d.Selection, `[data-testid="attack-mission-test"]`, "data-id")
			if shown := d.Find(`[data-testid="attack-mission-tests-count"]`).Length() == 1; shown != (tc.missionTests != nil) ||
				!slices.Equal(got, tc.missionTests) {
				t.Errorf("mission tests %v (list shown %v), want %v", got, shown, tc.missionTests)
			}
			for _, id := range got {
				li := d.Find(`[data-testid="attack-mission-test"][data-id="` + id + `"]`)
				mid := attackOne(t, app.DB, `SELECT mission_id FROM mission_tests WHERE id = $1`, id)
				if href := li.Find("a").AttrOr("href", ""); href != "/missions/"+mid+"/tests/"+id || !strings.Contains(li.Text(), "Mission ") {
					t.Errorf("mission test link %q, text %q", href, li.Text())
				}
			}
		})
	}
}

// catalogueReader creates a group holding only attack.read.
func catalogueReader(t *testing.T, app *apptest.App, name string) {
	t.Helper()
	if _, err := app.DB.Exec(`WITH g AS (INSERT INTO groups (name) VALUES ($1) RETURNING id)
		INSERT INTO group_permissions (group_id, permission_id) SELECT g.id, p.id FROM g, permissions p WHERE p.code = 'attack.read'`, name); err != nil {
		t.Fatal(err)
	}
}

// pickerDemo renders the picker as a form of a later issue would, in a
// test only: there is no demo route.
func pickerDemo(t *testing.T, ctx context.Context, p attackviews.PickerProps) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := attackviews.Picker(p).Render(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAttackPicker(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	attackCatalogue(t, app)
	cookie := app.SignedIn(t, "red@example.com", "redteam")
	id := func(table, ext string) string {
		return attackOne(t, app.DB, `SELECT id FROM `+table+` WHERE external_id = $1 AND NOT revoked AND NOT deprecated`, ext)
	}
	t1059, t1059001 := id("mitre_techniques", "T1059"), id("mitre_subtechniques", "T1059.001")

	rows := func(t *testing.T, path string) (*goquery.Document, []string) {
		t.Helper()
		w, d := attackGet(t, app, cookie, path, hxRequest...)
		if !isFragment(w.Body.String()) {
			t.Error("the picker answered a whole page")
		}
		return d, attackAttrs(d.Selection, `[data-testid="picker-checkbox"]`, "value")
	}

	cases := []struct {
		name  string
		path  string
		check func(t *testing.T, d *goquery.Document, values []string)
	}{
		{"search offers kind:uuid rows", "/attack/picker?name=tags&q=T1059", func(t *testing.T, d *goquery.Document, values []string) {
			if len(values) == 0 || values[0] != "technique:"+t1059 || !slices.Contains(values, "subtechnique:"+t1059001) {
				t.Errorf("values %v", values)
			}
			if names := attackAttrs(d.Selection, `[data-testid="picker-checkbox"]`, "name"); slices.ContainsFunc(names, func(n string) bool { return n != "tags" }) {
				t.Errorf("checkbox names %v", names)
			}
			if d.Find(`[data-testid="picker-checkbox"][checked]`).Length() != 0 {
				t.Error("results come ticked")
			}
			if d.Find("#picker-tags-results").Length() != 1 {
				t.Error("the rows are not the picker's results element")
			}
		}},
		{"tactic", "/attack/picker?name=tags&q=TA0002", func(t *testing.T, _ *goquery.Document, values []string) {
			if !slices.Equal(values, []string{"tactic:" + id("mitre_tactics", "TA0002")}) {
				t.Errorf("values %v", values)
			}
		}},
		{"revoked and deprecated never offered", "/attack/picker?name=tags&q=T1066", func(t *testing.T, d *goquery.Document, values []string) {
			if len(values) != 0 || d.Find(`[data-testid="picker-none"]`).Length() != 1 {
				t.Errorf("revoked T1066 offered: %v", values)
			}
			_, v := rows(t, "/attack/picker?name=tags&q=T1064")
			if len(v) != 0 {
				t.Errorf("deprecated T1064 offered: %v", v)
			}
		}},
		{"picked entries left out", "/attack/picker?name=tags&q=T1059&tags=technique:" + t1059, func(t *testing.T, _ *goquery.Document, values []string) {
			if slices.Contains(values, "technique:"+t1059) || !slices.Contains(values, "subtechnique:"+t1059001) {
				t.Errorf("values %v", values)
			}
		}},
		{"limit", "/attack/picker?name=tags&q=e", func(t *testing.T, d *goquery.Document, values []string) {
			if len(values) != attackviews.PickerLimit || d.Find(`[data-testid="picker-more"]`).Length() != 1 {
				t.Errorf("%d rows", len(values))
			}
		}},
		{"blank query", "/attack/picker?name=tags&q=", func(t *testing.T, d *goquery.Document, values []string) {
			if len(values) != 0 || d.Find(`[data-testid="picker-none"]`).Length() != 0 {
				t.Errorf("a blank search offers %v", values)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, values := rows(t, tc.path)
			tc.check(t, d, values)
		})
	}

	for _, bad := range []string{
		"/attack/picker?q=T1059",
		"/attack/picker?name=&q=T1059",
		"/attack/picker?name=" + url.QueryEscape(`x"><script>`) + "&q=T1059",
		"/attack/picker?name=q&q=T1059",
		"/attack/picker?name=tags&q=T1059&tags=technique:not-a-uuid",
		"/attack/picker?name=tags&q=T1059&tags=weapon:" + t1059,
	} {
		t.Run("bad request "+bad, func(t *testing.T) {
			if w := app.GetAs(cookie, bad); w.Code != http.StatusBadRequest {
				t.Errorf("%d, want 400", w.Code)
			}
		})
	}

	t.Run("picker component round trip", func(t *testing.T) {
		catalog, err := i18n.New("en")
		if err != nil {
			t.Fatal(err)
		}
		ctx := i18n.NewContext(context.Background(), catalog.Pick("en", ""))
		d := pickerDemo(t, ctx, attackviews.PickerProps{Name: "mitre", Selected: []attackviews.PickedTag{
			{Kind: attackviews.KindTechnique, ID: t1059, ExternalID: "T1059", Name: "Command and Scripting Interpreter"},
		}})
		selected := d.Find(`#picker-mitre-selected [data-testid="picker-checkbox"]`)
		if selected.Length() != 1 || selected.AttrOr("name", "") != "mitre" || selected.AttrOr("value", "") != "technique:"+t1059 {
			t.Fatalf("selected box %v", selected.Nodes)
		}
		if _, ok := selected.Attr("checked"); !ok {
			t.Error("selected tag not ticked")
		}
		in := d.Find(`[data-testid="picker-search"]`)
		if in.AttrOr("hx-include", "") != "#picker-mitre-selected" || in.AttrOr("hx-target", "") != "#picker-mitre-results" ||
			d.Find("#picker-mitre-results").Length() != 1 || d.Find("#"+in.AttrOr("form", "none")).Length() != 0 {
			t.Errorf("search box %v", in.Nodes[0].Attr)
		}
		// What htmx sends: the box's URL, the typed text, the ticked boxes.
		q := url.Values{"q": {"t1059"}, "mitre": attackAttrs(d.Selection, `#picker-mitre-selected input:checked`, "value")}
		w, got := attackGet(t, app, cookie, in.AttrOr("hx-get", "")+"&"+q.Encode(), hxRequest...)
		if got.Find("ul").First().AttrOr("id", "") != "picker-mitre-results" {
			t.Errorf("answer does not replace the target: %.200s", w.Body)
		}
		values := attackAttrs(got.Selection, `[data-testid="picker-checkbox"]`, "value")
		if len(values) == 0 || slices.Contains(values, "technique:"+t1059) {
			t.Errorf("rows %v", values)
		}
		refs, err := attackviews.ParsePicked(append(q["mitre"], values...))
		if err != nil || len(refs) != 1+len(values) || refs[0].ID.String() != t1059 {
			t.Errorf("ParsePicked of the rendered values: %v, %v", refs, err)
		}
	})
}

// TestAttackInFrench: the catalogue pages speak the viewer's language.
func TestAttackInFrench(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	attackCatalogue(t, app)
	cookie := app.SignedIn(t, "fr@example.com", "observer")
	if _, err := app.DB.Exec(`UPDATE users SET locale = 'fr'`); err != nil {
		t.Fatal(err)
	}
	messageID := regexp.MustCompile(`attack\.(matrix|search|detail|picker|kind)\.`)
	cases := []struct {
		path string
		want []string
	}{
		{"/attack", []string{"Toutes les plateformes", "Afficher les entrées révoquées et obsolètes", "sous-techniques"}},
		{"/attack?retired=1", []string{"Masquer les entrées révoquées et obsolètes", "Révoquée"}},
		{"/attack/search?q=T1059", []string{"résultats", "Sous-technique", "Rechercher"}},
		{"/attack/search?q=zzzz", []string{"Aucune tactique, technique ou sous-technique ne correspond à « zzzz »"}},
		{"/attack/T1059.001", []string{"Sous-technique", "Plateformes", "Utilisée par", "Dernière modification"}},
		{"/attack/T1066", []string{"MITRE a révoqué cette entrée.", "Elle est remplacée par"}},
		{"/attack/picker?name=tags&q=zzzz", []string{"Aucune entrée active ne correspond"}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			w, _ := attackGet(t, app, cookie, tc.path)
			body := w.Body.String()
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("no %q", s)
				}
			}
			if m := messageID.FindString(body); m != "" {
				t.Errorf("shows a message id %q", m)
			}
		})
	}
}

// BenchmarkSearch measures the search as you type, handler and middleware
// included, on ATT&CK 16.1 (budget: 20 ms of server time).
func BenchmarkSearch(b *testing.B) {
	app := apptest.New(b)
	attackCatalogue(b, app)
	cookie := app.SignedIn(b, "bench@example.com", "observer")
	for _, q := range []string{"t1059", "TA0002", "powershell", "e"} {
		b.Run(q, func(b *testing.B) {
			path := "/attack/search?q=" + url.QueryEscape(q)
			for b.Loop() {
				if w := app.GetAs(cookie, path, hxRequest...); w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, w.Code)
				}
			}
		})
	}
}

// TestBrowserAttack drives the catalogue in a real Chromium under the CSP:
// the matrix, "/" to the search box, search as you type with its URL
// pushed, an entry's page; then a picker put into a form the way a later
// page will hold one: a ticked result moves into the selection and stays
// there across searches, and the form submits the picks and nothing else.
func TestBrowserAttack(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	attackCatalogue(t, app)
	app.User(t, "red@example.com", "redteam")
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/attack"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="matrix"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "attack-matrix")
	cols, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="matrix-column"]').length`))
	if err != nil || cols != 14 {
		t.Errorf("%d columns (%v)", cols, err)
	}

	// "/" focuses the search box; typing searches and pushes the URL.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("/"), chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if id, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`)); id != "attack-q" {
		t.Fatalf("after /, focus is on %q", id)
	}
	// The DevTools protocol delivers the "/" character as an event of its
	// own, which the keydown handler cannot cancel as a real key press is:
	// empty the box before typing.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("attack-q").value = ""`),
		chromedp.KeyEvent("t1059"),
		poll(`location.search === "?q=t1059" && document.querySelectorAll('[data-testid="attack-hit"]').length > 9`),
	); err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/attack/search?q=t1059" {
		t.Errorf("URL after typing %q", loc)
	}
	first, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="attack-hit"]').dataset.externalId`))
	if first != "T1059" {
		t.Errorf("first hit %q", first)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="attack-hit"][data-external-id="T1059"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="attack-title"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="attack-title"]`))); strings.Join(strings.Fields(title), " ") != "T1059 Command and Scripting Interpreter" {
		t.Errorf("detail title %q", title)
	}
	browsertest.Screenshot(t, ctx, "attack-detail")

	// The picker, in a form on a page that loads htmx and app.js.
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := attackviews.Picker(attackviews.PickerProps{Name: "mitre"}).Render(i18n.NewContext(context.Background(), catalog.Pick("en", "")), &buf); err != nil {
		t.Fatal(err)
	}
	html, _ := json.Marshal(`<form id="demo-form" method="post" action="/nowhere">` + buf.String() + `</form>`)
	sub := attackOne(t, app.DB, `SELECT id FROM mitre_subtechniques WHERE external_id = 'T1059.001'`)
	search := func(q string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const el = document.getElementById("picker-mitre-q");
			el.value = %q; el.dispatchEvent(new Event("input", {bubbles: true})); })()`, q))
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/attack"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="matrix"]`)),
		chromedp.Evaluate[chromedp.Void](`(() => { document.querySelector("main").insertAdjacentHTML("afterbegin", `+string(html)+`);
			htmx.process(document.getElementById("demo-form")); })()`),
		chromedp.SendKeys(chromedp.CSS(`#picker-mitre-q`), "powershell"),
		poll(`document.querySelector('#picker-mitre-results [data-external-id="T1059.001"]') !== null`),
		chromedp.Click(chromedp.CSS(`#picker-mitre-results [data-external-id="T1059.001"] input`)),
		poll(`document.querySelector('#picker-mitre-selected [data-external-id="T1059.001"] input:checked') !== null`),
		search("TA0002"),
		poll(`document.querySelector('#picker-mitre-results [data-external-id="TA0002"]') !== null`),
		search("T1059"),
		poll(`document.querySelector('#picker-mitre-results [data-external-id="T1059.002"]') !== null`),
	); err != nil {
		t.Fatal(err)
	}
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		selected: [...document.querySelectorAll('#picker-mitre-selected input:checked')].map(e => e.value),
		offered: [...document.querySelectorAll('#picker-mitre-results input')].map(e => e.closest("li").dataset.externalId),
		form: [...new FormData(document.getElementById("demo-form")).entries()].map(e => e.join("="))})`))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`"selected":["subtechnique:%s"]`, sub)
	if !strings.Contains(state, want) || strings.Contains(state, `"T1059.001"`) || !strings.Contains(state, `"form":["mitre=subtechnique:`+sub+`"]`) {
		t.Errorf("picker state %s; want %s kept, T1059.001 no longer offered, only the pick in the form", state, want)
	}
	// Enter in the search box submits nothing.
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`#picker-mitre-q`)), chromedp.KeyEvent("\r"), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/attack" {
		t.Errorf("Enter in the picker's search box went to %q", loc)
	}
	browsertest.Screenshot(t, ctx, "attack-picker")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors (CSP violations or script failures):\n%s", strings.Join(errs, "\n"))
	}
}
