package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/internal/audit"
	"violet/internal/auth/rule"
	"violet/internal/paths"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserTablesAndHeaders: in a real browser, on a narrow window, the
// page header shows the title above the tabs above the actions; the audit
// log's times stay on one line beside long details; a category's row menu
// opens on its edit and delete, the columns of its rows line up.
func TestBrowserTablesAndHeaders(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	console := browsertest.WatchConsole(ctx)
	w := apptest.AsWorld(app)
	w.Person(t, "root", "admin")
	m := w.MissionWith(t, "Tables", map[string]string{"root": "lead"})
	for i, name := range []string{"Servers", "A category with a much longer name than the others", "Cloud"} {
		if err := app.Ent.MissionCategory.Create().SetMissionID(m).SetName(name).SetPosition(i).Exec(w.Sys()); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := audit.Record(rule.SystemContext(context.Background()), app.Ent.AuditEvent, audit.Event{
			Action: audit.InvitationCreated, TargetType: "invitation", TargetID: "abc",
			TargetLabel: "someone.with.a.rather.long.address@example.com",
			Details: map[string]any{"groups": []string{"redteam", "blueteam", "observer"}, "expires_hours": 72,
				"reason": strings.Repeat("a long free-text reason ", 8)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	top := func(sel string) string { return `document.querySelector('` + sel + `').getBoundingClientRect().top` }

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(900, 900),
		chromedp.Navigate(base+paths.Login),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), w.Email("root")),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-menu"]`)),
		chromedp.Navigate(base+paths.Templates),
		browsertest.Loaded(),
	); err != nil {
		browsertest.Screenshot(t, ctx, "tables-login-failed")
		t.Fatal(err)
	}
	ordered, err := chromedp.Run(ctx, chromedp.Evaluate[bool](top(`main h1`)+` < `+top(`main nav.subnav`)+
		` && `+top(`main nav.subnav`)+` < `+top(`[data-testid="page-actions"] [data-testid="template-new"]`)))
	if err != nil || !ordered {
		t.Errorf("templates page: title, tabs, actions not shown top to bottom (%v)", err)
	}
	browsertest.Screenshot(t, ctx, "templates-header")

	// The audit log: every time on one line (one line box), details as
	// fields.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+paths.Audit), browsertest.Loaded()); err != nil {
		t.Fatal(err)
	}
	wrapped, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('[data-testid="audit-time"]')]
		.filter(e => e.getClientRects().length !== 1).length`))
	if err != nil || wrapped != 0 {
		t.Errorf("%d audit times wrap (%v)", wrapped, err)
	}
	fields, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="audit-details"] dl dt').length`))
	if err != nil || fields < 9 {
		t.Errorf("%d detail labels shown (%v)", fields, err)
	}
	browsertest.Screenshot(t, ctx, "audit")

	// The categories: one table, columns aligned; the menu opens on edit
	// and delete.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+paths.URL(paths.MissionCategories, m.String())),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	lefts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...new Set(['category-tests', 'category-menu'].flatMap(id =>
		[...document.querySelectorAll('[data-testid="' + id + '"]')].map(e => id + ':' + Math.round(e.getBoundingClientRect().right))))].join(',')`))
	if err != nil || strings.Count(lefts, ",") != 1 {
		t.Errorf("category columns do not line up: %q (%v)", lefts, err)
	}
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector('[data-testid="category-delete"]').checkVisibility()`))
	if err != nil || !hidden {
		t.Errorf("the row menu starts open (%v)", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="category-row"]:last-child [data-testid="category-menu"] > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="category-row"]:last-child [data-testid="category-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="category-row"]:last-child [data-testid="category-edit"] > summary`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "categories-menu-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "categories-menu")

	// The detection scale: each level's menu at the same place in its row,
	// opening on edit.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+paths.DetectionLevels), browsertest.Loaded()); err != nil {
		t.Fatal(err)
	}
	menus, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...new Set([...document.querySelectorAll('[data-testid="detection-menu"]')]
		.map(e => Math.round(e.getBoundingClientRect().right)))].join(',')`))
	if err != nil || menus == "" || strings.Contains(menus, ",") {
		t.Errorf("the levels' menus are not aligned: %q (%v)", menus, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="detection-row"]:first-child [data-testid="detection-menu"] > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="detection-row"]:first-child [data-testid="detection-edit"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "detection-menu-failed")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "detection-menu")
	for _, msg := range console.Errors() {
		t.Errorf("console error: %s", msg)
	}
}
