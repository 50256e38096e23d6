package handlers_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/internal/auth/rule"
	"violet/internal/sigma"
	"violet/internal/testkit/apptest"
)

const sigmaDataDir = "../../shared/data/sigma"

// sigmaFiles reads the real SigmaHQ rules beside the checkout, or skips.
func sigmaFiles(t *testing.T) []sigma.File {
	t.Helper()
	if _, err := os.Stat(sigmaDataDir); err != nil {
		t.Skip("no ../shared/data/sigma beside the checkout")
	}
	var files []sigma.File
	err := filepath.WalkDir(sigmaDataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(sigmaDataDir, p)
		files = append(files, sigma.File{Name: "sigma-master/" + filepath.ToSlash(rel), Data: b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestLibraryImportSigma: Library → Import takes an archive of SigmaHQ's
// rules (the import form's kind=sigma) as a background job: every rule is
// added once, the job's page and the history show it as a Sigma import;
// the same archive again leaves every rule unchanged. A form without a
// rule file is refused next to its field and starts nothing.
func TestLibraryImportSigma(t *testing.T) {
	t.Parallel()
	files := sigmaFiles(t)
	app := apptest.New(t)
	red := app.SignedIn(t, "red@example.com", "redteam")

	for name, parts := range map[string][]importPart{
		"no file":           {importField("kind", "sigma")},
		"a wrong extension": {importField("kind", "sigma"), importFile("rules.txt", []byte("title: x"))},
	} {
		w := importPost(app, red, "/library/import/atomic", parts...)
		d := doc(t, w)
		if w.Code != http.StatusUnprocessableEntity || d.Find(`[data-testid="error-sigma_files"]`).Length() != 1 ||
			d.Find(`[data-testid="error-files"]`).Length() != 0 {
			t.Errorf("%s: status %d, want 422 with the error next to the Sigma field", name, w.Code)
		}
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM import_jobs`); n != 0 {
		t.Fatalf("%d jobs started by refused forms", n)
	}

	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, _ := zw.Create(f.Name)
		w.Write(f.Data)
	}
	w, _ := zw.Create("sigma-master/.github/workflows/ci.yml")
	w.Write([]byte("name: ci\n"))
	zw.Close()
	j := importWait(t, app, importPost(app, red, "/library/import/atomic", importField("kind", "sigma"), importFile("sigma-master.zip", b.Bytes())))
	if j.Status != "succeeded" || j.Summary.Files != 418 || j.Summary.Added != 418 || j.Summary.Failed != 0 {
		t.Fatalf("job %+v, want 418 rules added", j)
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM detection_rules`); n != 418 {
		t.Errorf("%d rules in the catalogue, want 418", n)
	}
	d := doc(t, app.GetAs(red, "/library/import/"+j.ID))
	if testid(d, "import-files") != "418" || testid(d, "import-added") != "418" || d.Find(`[data-testid="import-attack-link"]`).Length() != 1 {
		t.Errorf("job page:\n%s", testid(d, "import-job"))
	}
	j = importWait(t, app, importPost(app, red, "/library/import/atomic", importField("kind", "sigma"), importFile("sigma-master.zip", b.Bytes())))
	if j.Status != "succeeded" || j.Summary.Unchanged != 418 || j.Summary.Added+j.Summary.Updated != 0 {
		t.Errorf("second job %+v, want 418 unchanged", j)
	}
	d = doc(t, app.GetAs(red, "/library/import"))
	rows := d.Find(`[data-testid="import-row"]`)
	if rows.Length() != 2 || !strings.Contains(rows.First().Text(), "Sigma rules") || d.Find(`[data-testid="import-sigma"] input[name="kind"][value="sigma"]`).Length() != 1 {
		t.Errorf("history: %d rows %q", rows.Length(), rows.First().Text())
	}
}

// TestAttackEntrySigmaRules: the page of T1059.001 lists the catalogue's
// rules whose tags name it (as many as the files tagged attack.t1059.001),
// with their level and log source; the page of T1059 lists its own and
// its sub-techniques' rules, those marked with the sub-technique; a
// deleted rule is not listed; a tactic's page has no rules section.
func TestAttackEntrySigmaRules(t *testing.T) {
	t.Parallel()
	files := sigmaFiles(t)
	app := apptest.New(t)
	attackCatalogue(t, app)
	ctx := rule.SystemContext(context.Background())
	if _, err := sigma.Import(ctx, app.Ent, files, sigma.Options{}); err != nil {
		t.Fatal(err)
	}
	// The technique's page rolls up the sub-techniques the catalogue knows
	// (ATT&CK 16.1 here: not T1059.012, which some rules name).
	known := attackStrings(t, app.DB, `SELECT external_id FROM mitre_subtechniques WHERE external_id LIKE 'T1059.%'`)
	var own, family []string // rule ids naming T1059.001; naming T1059 or one of its known sub-techniques
	for _, f := range files {
		r, err := sigma.Parse(f.Name, f.Data)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(r.Techniques, "T1059.001") {
			own = append(own, r.UID)
		}
		if slices.ContainsFunc(r.Techniques, func(id string) bool { return id == "T1059" || slices.Contains(known, id) }) {
			family = append(family, r.UID)
		}
	}
	if len(own) == 0 || len(family) <= len(own) {
		t.Fatalf("%d rules for T1059.001, %d for T1059's family", len(own), len(family))
	}
	viewer := app.SignedIn(t, "viewer@example.com", "observer")
	uids := func(path string) map[string]string {
		w := app.GetAs(viewer, path)
		d := doc(t, w)
		out := map[string]string{}
		for _, n := range d.Find(`[data-testid="attack-rule"]`).Nodes {
			var uid, via string
			for _, a := range n.Attr {
				switch a.Key {
				case "data-rule-uid":
					uid = a.Val
				case "data-via":
					via = a.Val
				}
			}
			out[uid] = via
		}
		if testid(d, "attack-rules-count") == "" && !strings.Contains(path, "TA") {
			t.Errorf("%s: no rules count", path)
		}
		return out
	}
	got := uids("/attack/T1059.001")
	if len(got) != len(own) {
		t.Errorf("T1059.001 lists %d rules, want the %d tagged attack.t1059.001", len(got), len(own))
	}
	for _, uid := range own {
		if _, ok := got[uid]; !ok {
			t.Errorf("T1059.001: rule %s missing", uid)
		}
	}
	d := doc(t, app.GetAs(viewer, "/attack/T1059.001"))
	row := d.Find(`[data-testid="attack-rule"]`).First()
	if row.Find("td").Length() != 4 || strings.TrimSpace(row.Find("td").Eq(3).Text()) == "" {
		t.Errorf("a rule row: %q", row.Text())
	}
	got = uids("/attack/T1059")
	if len(got) != len(family) {
		t.Errorf("T1059 lists %d rules, want its family's %d", len(got), len(family))
	}
	marked := 0
	for _, uid := range own {
		if strings.Contains(got[uid], "T1059.001") {
			marked++
		}
	}
	if marked == 0 {
		t.Error("T1059: no rule marked as found through T1059.001")
	}
	if _, err := app.DB.Exec(`UPDATE detection_rules SET deleted_at = now() WHERE rule_uid = $1`, own[0]); err != nil {
		t.Fatal(err)
	}
	if got := uids("/attack/T1059.001"); len(got) != len(own)-1 {
		t.Errorf("after a delete: %d rules, want %d", len(got), len(own)-1)
	}
	if d := doc(t, app.GetAs(viewer, "/attack/TA0002")); d.Find(`[data-testid="attack-rules"]`).Length() != 0 {
		t.Error("a tactic's page lists rules")
	}
}

// TestTemplateRulesPicker: the edit form of a template tagged T1059.001
// offers the catalogue's rules of T1059.001; a search by title (htmx)
// answers only the picker's results, those already picked left out; the
// rules picked are saved with the template (audited), shown picked on
// the form again, and copied to the mission test made from the template.
// A rule that is not in the catalogue is refused next to the picker.
func TestTemplateRulesPicker(t *testing.T) {
	t.Parallel()
	files := sigmaFiles(t)
	f := newOverviewFixture(t)
	templates, _ := f.libraryFixture(t)
	ctx := rule.SystemContext(context.Background())
	if _, err := sigma.Import(ctx, f.app.Ent, files, sigma.Options{}); err != nil {
		t.Fatal(err)
	}
	tagged := 0
	for _, file := range files {
		r, err := sigma.Parse(file.Name, file.Data)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(r.Techniques, "T1059.001") {
			tagged++
		}
	}
	red, lead := f.cookies["red"], f.cookies["lead"]
	tpl := templates[0] // Run PowerShell, tagged T1059.001
	edit := "/library/tests/" + tpl.String() + "/edit"
	rows := func(d *goquery.Document, list string) []string {
		var ids []string
		d.Find(`[data-testid="` + list + `"] [data-testid="rule-row"]`).Each(func(_ int, s *goquery.Selection) {
			ids = append(ids, s.AttrOr("data-id", ""))
		})
		return ids
	}
	d := doc(t, f.app.GetAs(red, edit))
	offered := rows(d, "rules-results")
	if len(offered) != tagged || d.Find(`[data-testid="rules-suggested"]`).Length() != 1 {
		t.Fatalf("the form offers %d rules, want the %d of T1059.001", len(offered), tagged)
	}

	w := f.app.GetAs(red, edit+"?rules_q=powershell&rules="+offered[0], "HX-Request", "true")
	body := w.Body.String()
	frag := doc(t, w)
	found := rows(frag, "rules-results")
	if w.Code != http.StatusOK || strings.Contains(body, "<html") || len(found) == 0 || slices.Contains(found, offered[0]) {
		t.Errorf("search: %d, %d rules, the picked one left out: %v", w.Code, len(found), !slices.Contains(found, offered[0]))
	}
	frag.Find(`[data-testid="rule-row"]`).Each(func(_ int, s *goquery.Selection) {
		if !strings.Contains(strings.ToLower(s.Text()), "powershell") {
			t.Errorf("search found %q", strings.TrimSpace(s.Text()))
		}
	})

	var version int
	if err := f.app.DB.QueryRow(`SELECT version FROM test_templates WHERE id = $1`, tpl).Scan(&version); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"name": {"Run PowerShell"}, "opsec_level": {"high"}, "version": {strconv.Itoa(version)},
		"tags": {d.Find(`[data-testid="picker-selected"] input[name="tags"]`).AttrOr("value", "")}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad["rules"] = []string{offered[0], uuid.NewString()}
	w = f.app.PostAs(red, "/library/tests/"+tpl.String(), bad)
	if d := doc(t, w); w.Code != http.StatusUnprocessableEntity || d.Find(`[data-testid="error-rules"]`).Length() != 1 ||
		len(rows(d, "rules-selected")) != 1 {
		t.Errorf("an unknown rule: %d, want 422 next to the picker with the known rule kept", w.Code)
	}
	form["rules"] = []string{offered[0], offered[1]}
	if w := f.app.PostAs(red, "/library/tests/"+tpl.String(), form); w.Code != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", w.Code, w.Body)
	}
	if n := importCount(t, f.app.DB, `SELECT count(*) FROM test_template_rules WHERE test_template_id = $1`, tpl); n != 2 {
		t.Errorf("%d rules saved, want 2", n)
	}
	if n := importCount(t, f.app.DB, `SELECT count(*) FROM audit_events WHERE action = 'template.updated' AND target_id = $1 AND (details->>'rules')::int = 2`, tpl.String()); n != 1 {
		t.Errorf("%d audit events with the rules, want 1", n)
	}
	d = doc(t, f.app.GetAs(red, edit))
	if picked, left := rows(d, "rules-selected"), rows(d, "rules-results"); len(picked) != 2 || len(left) != tagged-2 {
		t.Errorf("after the save: %d picked, %d offered", len(picked), len(left))
	}

	if w := f.app.PostAs(lead, f.path("/plan/tests"), url.Values{"template_id": {tpl.String()}}); w.Code != http.StatusSeeOther {
		t.Fatalf("add to the plan: %d", w.Code)
	}
	if n := importCount(t, f.app.DB, `SELECT count(*) FROM mission_test_rules r JOIN mission_tests m ON m.id = r.mission_test_id
		WHERE m.mission_id = $1 AND m.test_template_id = $2 AND r.detection_rule_id::text = ANY($3)`, f.id, tpl, pq.Array(form["rules"])); n != 2 {
		t.Errorf("the mission test has %d of the template's 2 rules", n)
	}
}
