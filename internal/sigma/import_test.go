package sigma_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"violet/ent/detectionrule"
	"violet/internal/auth/rule"
	"violet/internal/sigma"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// sigmaRules is the folder of real SigmaHQ rules beside the checkout.
const sigmaRules = "../../../shared/data/sigma"

// realRules reads every rule file of the real SigmaHQ rules, or skips.
func realRules(t *testing.T) []sigma.File {
	t.Helper()
	if _, err := os.Stat(sigmaRules); err != nil {
		t.Skip("no ../shared/data/sigma beside the checkout")
	}
	var files []sigma.File
	err := filepath.WalkDir(sigmaRules, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(sigmaRules, p)
		files = append(files, sigma.File{Name: filepath.ToSlash(rel), Data: b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSigmaImportRealRulesTwice: every real rule is added once; a second
// run changes nothing; a changed rule is updated to revision 2; a deleted
// rule stays deleted; a bad file is a failure naming its line while the
// others are imported.
func TestSigmaImportRealRulesTwice(t *testing.T) {
	files := realRules(t)
	if len(files) != 418 {
		t.Fatalf("%d rule files, want SigmaHQ's 418", len(files))
	}
	db, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	var last [2]int
	sum, err := sigma.Import(ctx, client, files, sigma.Options{Progress: func(done, total int) { last = [2]int{done, total} }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 418 || sum.Added != 418 || sum.Updated+sum.Unchanged+sum.Kept+sum.Failed != 0 {
		t.Errorf("first run %+v, want 418 added", sum)
	}
	if last != [2]int{418, 418} {
		t.Errorf("progress ended at %v", last)
	}
	var rows, withT1059001 int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE techniques ? 'T1059.001') FROM detection_rules WHERE revision = 1`).Scan(&rows, &withT1059001); err != nil {
		t.Fatal(err)
	}
	tagged := 0
	for _, f := range files {
		if strings.Contains(strings.ToLower(string(f.Data)), "- attack.t1059.001\n") {
			tagged++
		}
	}
	if rows != 418 || withT1059001 != tagged || tagged == 0 {
		t.Errorf("%d rules, %d for T1059.001; want 418 and the %d files tagged attack.t1059.001", rows, withT1059001, tagged)
	}

	sum, err = sigma.Import(ctx, client, files, sigma.Options{})
	if err != nil || sum.Unchanged != 418 || sum.Added+sum.Updated+sum.Kept+sum.Failed != 0 {
		t.Errorf("second run %+v (%v), want 418 unchanged", sum, err)
	}

	// One rule changed, one deleted from the catalogue, one file broken.
	changed, deleted := files[0], files[1]
	changed.Data = []byte(strings.Replace(string(changed.Data), "\nlevel: ", "\nlevel: critical\nx_old_level: ", 1))
	gone, err := client.DetectionRule.Query().Where(detectionrule.Source(deleted.Name)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.DetectionRule.DeleteOne(gone).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	broken := sigma.File{Name: "rules/broken.yml", Data: []byte("title: broken\nid: [oops\n")}
	again := append([]sigma.File{changed, broken}, files[1:]...)
	sum, err = sigma.Import(ctx, client, again, sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 419 || sum.Updated != 1 || sum.Kept != 1 || sum.Unchanged != 416 || sum.Added != 0 || sum.Failed != 1 {
		t.Errorf("third run %+v, want 1 updated, 1 kept, 416 unchanged, 1 failed", sum)
	}
	if len(sum.Failures) != 1 || sum.Failures[0].File != "rules/broken.yml" || !strings.HasPrefix(sum.Failures[0].Reason, "line 2: ") {
		t.Errorf("failures %+v, want broken.yml at line 2", sum.Failures)
	}
	var level string
	var revision int
	if err := db.QueryRow(`SELECT level, revision FROM detection_rules WHERE source = $1`, changed.Name).Scan(&level, &revision); err != nil ||
		level != "critical" || revision != 2 {
		t.Errorf("changed rule: level %q revision %d (%v), want critical, 2", level, revision, err)
	}
	var deletedAt *string
	if err := db.QueryRow(`SELECT deleted_at::text FROM detection_rules WHERE source = $1`, deleted.Name).Scan(&deletedAt); err != nil || deletedAt == nil {
		t.Errorf("the deleted rule is back (%v)", err)
	}
	if n := rowsOf(t, db.QueryRow(`SELECT count(*) FROM detection_rules`).Scan); n != 418 {
		t.Errorf("%d rows, want 418", n)
	}
}

// TestSigmaImportSameIDTwice: the second file with a rule id already in
// the import is refused, naming the first.
func TestSigmaImportSameIDTwice(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	good := readGood(t)
	sum, err := sigma.Import(ctx, client, []sigma.File{{Name: "a.yml", Data: []byte(good)}, {Name: "b.yml", Data: []byte(good + "\n")}}, sigma.Options{})
	if err != nil || sum.Added != 1 || sum.Failed != 1 || sum.Failures[0].File != "b.yml" || !strings.Contains(sum.Failures[0].Reason, "a.yml") {
		t.Errorf("%+v %v", sum, err)
	}
}

func rowsOf(t *testing.T, scan func(...any) error) int {
	t.Helper()
	var n int
	if err := scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
