package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMissionMembers: a red-team operator creates a mission in a
// real browser, finds a colleague with the search as you type and adds
// them as blue, changes their role with the select (htmx posts on change),
// then adds two categories and moves the second up. Each step is checked
// on the page and in the database.
func TestBrowserMissionMembers(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	app.User(t, "red@example.com", "redteam")
	carol := app.User(t, "carol@example.com", "blueteam")
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	settled := browsertest.Settled()
	dbStr := func(q string, args ...any) string {
		t.Helper()
		var s string
		if err := app.DB.QueryRow(q, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/missions/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "red@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mission-form"]`)),
		browsertest.Loaded(),
		chromedp.SendKeys(chromedp.CSS(`#field-name`), "Browser mission"),
		chromedp.SendKeys(chromedp.CSS(`#field-scope`), "The lab"),
		chromedp.Click(chromedp.CSS(`[data-testid="mission-submit"]`)),
		// The form redirects to the mission's overview: let that page
		// load, or navigating away below may abort it (ERR_ABORTED).
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mission-name"]`)),
	); err != nil {
		browsertest.Screenshot(t, ctx, "mission-create-failed")
		t.Fatal(err)
	}
	// Then find the mission in the database and open its members.
	var id uuid.UUID
	for i := 0; id == uuid.Nil && i < 100; i++ {
		if err := app.DB.QueryRow(`SELECT id FROM missions WHERE name = 'Browser mission'`).Scan(&id); err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if id == uuid.Nil {
		browsertest.Screenshot(t, ctx, "mission-create-failed")
		t.Fatal("the mission was not created")
	}
	members := base + "/missions/" + id.String() + "/members"
	row := `[data-testid="member-row"][data-user-id="` + carol.ID.String() + `"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(members),
		chromedp.WaitVisible(chromedp.CSS(`#member-q`)),
		settled,
		chromedp.SendKeys(chromedp.CSS(`#member-q`), "caro"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="member-candidate"][data-user-id="`+carol.ID.String()+`"]`)),
		settled,
		chromedp.SetValue(chromedp.CSS(`#candidate-role-`+carol.ID.String()), "blue"),
		chromedp.Click(chromedp.CSS(`[data-testid="member-candidate-add"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-role="blue"]`)),
		// The search results came back without carol.
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="member-candidates-none"]`)),
		settled,
	); err != nil {
		browsertest.Screenshot(t, ctx, "mission-member-add-failed")
		t.Fatal(err)
	}
	if r := dbStr(`SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, id, carol.ID); r != "blue" {
		t.Fatalf("carol's role %q", r)
	}
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("member-role-`+carol.ID.String()+`");
			s.value = "observer"; s.dispatchEvent(new Event("change", {bubbles: true})); })()`),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-role="observer"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="members-notice"][data-notice="saved"]`)),
		settled,
	); err != nil {
		browsertest.Screenshot(t, ctx, "mission-member-role-failed")
		t.Fatal(err)
	}
	if r := dbStr(`SELECT role FROM mission_members WHERE mission_id = $1 AND user_id = $2`, id, carol.ID); r != "observer" {
		t.Errorf("carol's role %q after the select", r)
	}
	browsertest.Screenshot(t, ctx, "mission-members")

	const rows = `[...document.querySelectorAll('[data-testid="category-name"]')].map(e => e.textContent).join(",")`
	add := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := chromedp.SendKeys(chromedp.CSS(`#category-new-name`), name)(ctx, tg); err != nil {
				return err
			}
			if _, err := chromedp.Click(chromedp.CSS(`[data-testid="category-add-submit"]`))(ctx, tg); err != nil {
				return err
			}
			if _, err := poll(rows+`.includes("`+name+`")`)(ctx, tg); err != nil {
				return err
			}
			_, err := settled(ctx, tg)
			return err
		})
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/missions/"+id.String()+"/categories"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="category-add"]`)),
		settled,
		add("Servers"),
		add("Workstations"),
		chromedp.Click(chromedp.CSS(`[data-testid="category-row"]:last-child [data-testid="category-up"]`)),
		poll(rows+` === "Workstations,Servers"`),
		settled,
	); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").outerHTML`))
		browsertest.Screenshot(t, ctx, "mission-categories-failed")
		t.Fatalf("%v\n%s", err, html)
	}
	if o := dbStr(`SELECT string_agg(name, ',' ORDER BY position) FROM mission_categories WHERE mission_id = $1`, id); o != "Workstations,Servers" {
		t.Errorf("stored order %s", o)
	}
	browsertest.Screenshot(t, ctx, "mission-categories")
	for _, m := range console.Errors() {
		if !strings.Contains(m, "404") { // the mission page is not built here
			t.Errorf("console error: %s", m)
		}
	}
}
