package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"violet/internal/testkit/apptest"
	"violet/views/scale"
)

func TestScaleCSS(t *testing.T) {
	world := apptest.NewWorldOf(t, []string{"admin"})
	app, admin := world.App, world.Cookie("admin")

	w := app.Get(scale.Path) // public: no cookie
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	tag := w.Header().Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	body := w.Body.String()
	// One class per level, with its colour and a readable text colour:
	// dark text on the yellow of Logged, white on the red of Not detected.
	for name, want := range map[string]string{
		"Blocked":      "background-color: #15803d; border-color: #15803d; color: #ffffff;",
		"Logged":       "background-color: #ca8a04; border-color: #ca8a04; color: #000000;",
		"Not detected": "background-color: #b91c1c; border-color: #b91c1c; color: #ffffff;",
	} {
		rule := regexp.MustCompile(`\.` + regexp.QuoteMeta(scale.Class(world.Level(t, name))) + ` \{[^}]*\}`).FindString(body)
		if !strings.Contains(rule, want) {
			t.Errorf("%s: rule %q lacks %q", name, rule, want)
		}
	}
	if n := strings.Count(body, ".level-"); n != 4 {
		t.Errorf("%d classes, want 4", n)
	}

	tests := []struct {
		name        string
		ifNoneMatch string
		status      int
	}{
		{"same tag", tag, http.StatusNotModified},
		{"weak form of the tag", "W/" + tag, http.StatusNotModified},
		{"in a list", `"other", ` + tag, http.StatusNotModified},
		{"other tag", `"levels-0-0"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := app.Get(scale.Path, "If-None-Match", tt.ifNoneMatch)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status == http.StatusNotModified && w.Body.Len() != 0 {
				t.Error("a 304 with a body")
			}
		})
	}

	// Any change to the scale busts the tag: an edit, then a new level.
	steps := []struct {
		name string
		do   func() int
	}{
		{"colour edited", func() int {
			return app.PostAs(admin, "/admin/detection-levels/"+world.Level(t, "Logged").String(),
				levelValues("Logged", "25", "#eab308", false)).Code
		}},
		{"level added", func() int {
			return app.PostAs(admin, "/admin/detection-levels", levelValues("Contained", "90", "#0f766e", true)).Code
		}},
		{"level moved", func() int {
			return app.PostAs(admin, "/admin/detection-levels/"+world.Level(t, "Contained").String()+"/move",
				url.Values{"direction": {"up"}}).Code
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if code := st.do(); code != http.StatusSeeOther {
				t.Fatalf("change: status %d", code)
			}
			w := app.Get(scale.Path, "If-None-Match", tag)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d after a change, want 200", w.Code)
			}
			if next := w.Header().Get("ETag"); next == tag {
				t.Error("ETag unchanged after a change")
			} else {
				tag = next
			}
		})
	}
	if body := app.Get(scale.Path).Body.String(); !strings.Contains(body, "background-color: #eab308") ||
		!strings.Contains(body, scale.Class(world.Level(t, "Contained"))) {
		t.Errorf("the new colours are not served:\n%s", body)
	}
}
