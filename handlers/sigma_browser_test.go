package handlers_test

import (
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserSigmaRules: a red-team operator uploads SigmaHQ's rules on
// Library → Import (the Sigma form) and reads the job's summary; on the
// edit form of a template tagged T1059.001 they tick a suggested rule,
// search another by title (the ticked one stays picked), tick it and
// save: the template expects both; the page of T1059.001 lists the rules.
func TestBrowserSigmaRules(t *testing.T) {
	files := sigmaFiles(t)
	var paths []string
	err := filepath.WalkDir(sigmaDataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yml") {
			abs, aerr := filepath.Abs(p)
			paths = append(paths, abs)
			return aerr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	app, base := browsertest.Server(t)
	attackCatalogue(t, app)
	app.User(t, "red@example.com", "redteam")
	tpl := uuid.New()
	if _, err := app.DB.Exec(`INSERT INTO test_templates (id, name, procedure, platforms, opsec_level) VALUES ($1, 'Run PowerShell', 'do it', '["Windows"]', 'high')`, tpl); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB.Exec(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id)
		SELECT $1, id FROM mitre_subtechniques WHERE external_id = 'T1059.001' AND NOT revoked AND NOT deprecated LIMIT 1`, tpl); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/import"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-sigma"]`)),
		browsertest.Loaded(),
		chromedp.SetUploadFiles(chromedp.CSS(`#field-sigma_files`), paths),
		chromedp.Click(chromedp.CSS(`[data-testid="import-sigma-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-summary"]`)),
	); err != nil {
		t.Fatal(err)
	}
	added, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="import-added"]`)))
	if err != nil || strings.TrimSpace(added) != strconv.Itoa(len(files)) {
		t.Errorf("added %q (%v), want %d", added, err, len(files))
	}
	browsertest.Screenshot(t, ctx, "sigma-import-summary")

	first := `[data-testid="rules-results"] [data-testid="rule-row"] input`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/library/tests/"+tpl.String()+"/edit"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rules-suggested"]`)),
		browsertest.Loaded(),
		chromedp.Click(chromedp.CSS(first)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="rules-search"]`), "bash"),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="rules-suggested"]`)),
		browsertest.Settled(),
	); err != nil {
		t.Fatal(err)
	}
	picked, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="rules-selected"] input:checked').length`))
	offered, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="rules-results"] [data-testid="rule-row"]').length`))
	if picked != 1 || offered == 0 {
		t.Fatalf("after the search: %d picked, %d offered", picked, offered)
	}
	browsertest.Screenshot(t, ctx, "sigma-template-picker")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(first)),
		chromedp.Click(chromedp.CSS(`[data-testid="template-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-facts"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	if n := importCount(t, app.DB, `SELECT count(*) FROM test_template_rules WHERE test_template_id = $1`, tpl); n != 2 {
		t.Errorf("the template expects %d rules, want 2", n)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/attack/T1059.001"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="attack-rules"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="attack-rule"]').length`))
	want := importCount(t, app.DB, `SELECT count(*) FROM detection_rules WHERE techniques ? 'T1059.001'`)
	if rows != want || rows == 0 {
		t.Errorf("T1059.001 lists %d rules, want %d", rows, want)
	}
	browsertest.Screenshot(t, ctx, "sigma-attack-rules")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
