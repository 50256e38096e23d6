package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"violet/internal/testkit/apptest"
	"violet/internal/testkit/browsertest"
)

// TestBrowserMatrixFitsAndCovers: at 1440×900 the 14 Enterprise tactics
// fit without sideways scrolling, the library overlay shows a covered
// technique's count (its sub-technique's template included), and the
// mission overlay colours techniques with the scale. With
// VIOLET_SCREENSHOTS=dir it saves the matrix with the mission overlay as
// matrix-coverage.png there.
func TestBrowserMatrixFitsAndCovers(t *testing.T) {
	app, base := browsertest.Server(t)
	ctx := browsertest.New(t)
	attackCatalogue(t, app)
	app.User(t, "member@example.com", "observer")
	one := func(q string, args ...any) string { t.Helper(); return attackOne(t, app.DB, q, args...) }
	sub := one(`SELECT id FROM mitre_subtechniques WHERE external_id = 'T1059.001' AND NOT revoked`)
	tpl := one(`INSERT INTO test_templates (name, platforms) VALUES ('PowerShell download cradle', '[]') RETURNING id`)
	one(`INSERT INTO test_template_mitre_tags (test_template_id, subtechnique_id) VALUES ($1, $2) RETURNING id`, tpl, sub)
	mission := one(`INSERT INTO missions (name) VALUES ('Quarterly purple team') RETURNING id`)
	one(`INSERT INTO mission_members (mission_id, user_id, role)
		SELECT $1, id, 'observer' FROM users WHERE email = 'member@example.com' RETURNING id`, mission)
	best := one(`SELECT id FROM detection_levels ORDER BY score DESC, position LIMIT 1`)
	worst := one(`SELECT id FROM detection_levels ORDER BY score, position LIMIT 1`)
	for _, r := range []struct {
		state, tag string
		level      any
	}{
		{"executed", "T1059.001", best}, {"reviewed", "T1003", worst}, {"executed", "T1105", nil},
		{"pending", "T1082", nil}, {"executed", "T1566", best}, {"reviewed", "T1021", worst},
	} {
		kind := "technique"
		if strings.Contains(r.tag, ".") {
			kind = "subtechnique"
		}
		test := one(`INSERT INTO mission_tests (mission_id, name, platforms, state, detection_level_id)
			VALUES ($1, $2, '[]', $3, $4) RETURNING id`, mission, "Test of "+r.tag, r.state, r.level)
		one(`INSERT INTO mission_test_mitre_tags (mission_test_id, kind, external_id, name) VALUES ($1, $2, $3, $3) RETURNING id`,
			test, kind, r.tag)
	}
	console := browsertest.WatchConsole(ctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }
	choose := func(testid, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-testid="` + testid + `"]');
			s.value = "` + value + `"; s.dispatchEvent(new Event("change", {bubbles: true})); })()`)
	}

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1440, 900),
		chromedp.Navigate(base+"/attack"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#field-email`), "member@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#field-password`), apptest.Password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="matrix"]`)),
		browsertest.Loaded(),
	); err != nil {
		t.Fatal(err)
	}
	fits := func(when string) {
		t.Helper()
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
			const out = [], vw = document.documentElement.clientWidth;
			const m = document.querySelector('[data-testid="matrix"]');
			if (m.scrollWidth > m.clientWidth + 1) out.push("the matrix scrolls: " + m.scrollWidth + " px in " + m.clientWidth + " px");
			if (document.documentElement.scrollWidth > vw + 1) out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " px in " + vw + " px");
			const heads = document.querySelectorAll('[data-testid="matrix-column"] .matrix__tactic');
			if (heads.length !== 14) out.push(heads.length + " tactic columns");
			for (const h of heads) {
				const r = h.getBoundingClientRect(), name = h.querySelector("h2");
				if (r.left < 0 || r.right > vw + 0.5) out.push(name.textContent.trim() + " outside the viewport: " + r.left + "–" + r.right);
				if (name.scrollWidth > name.clientWidth + 1) out.push(name.textContent.trim() + " clipped: " + name.scrollWidth + " px in " + name.clientWidth + " px");
				// Every word of a tactic's name fits its column: the name
				// wraps between words, never inside one.
				const a = name.querySelector("a"), probe = document.createElement("span");
				probe.style.whiteSpace = "nowrap";
				for (const word of a.textContent.trim().split(/\s+/)) {
					probe.textContent = word;
					a.appendChild(probe);
					const w = probe.getBoundingClientRect().width;
					probe.remove();
					if (w > name.clientWidth + 0.5) out.push("the word " + word + " is wider than its column: " + w + " px in " + name.clientWidth + " px");
				}
			}
			return out;
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s at 1440 px: %s", when, p)
		}
	}
	fits("the matrix")
	browsertest.Screenshot(t, ctx, "matrix-1440")

	// The library overlay: T1059 counts its sub-technique's template.
	if err := chromedp.Do(ctx,
		choose("matrix-overlay", "library"),
		poll(`new URLSearchParams(location.search).get("overlay") === "library" &&
			document.querySelector('[data-testid="matrix-technique"][data-external-id="T1059"] > [data-testid="matrix-cover"]') !== null`),
	); err != nil {
		t.Fatal(err)
	}
	count, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector('[data-testid="matrix-technique"][data-external-id="T1059"] > [data-testid="matrix-cover"]').textContent.trim()`))
	if err != nil || count != "1" {
		t.Errorf("T1059's library count %q (%v), want 1", count, err)
	}
	fits("the library overlay")

	// The mission overlay: choose it, then the mission.
	// htmx swaps the form in, then settles it: the mission is chosen once
	// the new form is in place and settled.
	if err := chromedp.Do(ctx,
		choose("matrix-overlay", "mission"),
		poll(`document.querySelector('[data-testid="matrix-mission"]') !== null &&
			document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling") === null`),
		choose("matrix-mission", mission),
		poll(`location.search.includes("mission=`+mission+`") &&
			document.querySelector('[data-testid="matrix-technique"][data-external-id="T1059"].level-`+best+`') !== null`),
	); err != nil {
		t.Fatal(err)
	}
	// The scale's stylesheet colours the cell: its background is not the
	// page's.
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('[data-testid="matrix-technique"][data-external-id="T1003"]')).backgroundColor`))
	if err != nil || bg == "" || bg == "rgba(0, 0, 0, 0)" {
		t.Errorf("T1003's colour %q (%v)", bg, err)
	}
	fits("the mission overlay")
	browsertest.Screenshot(t, ctx, "matrix-coverage")
	browsertest.DocScreenshot(t, ctx, "matrix-coverage")
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
