package i18n_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"violet/internal/i18n"
)

// TestCataloguesHaveSameKeys fails when a message exists in one language
// and not in another.
func TestCataloguesHaveSameKeys(t *testing.T) {
	catalogues := map[string]map[string]bool{}
	for _, lang := range i18n.Supported() {
		keys, err := i18n.Keys(lang)
		if err != nil {
			t.Fatalf("Keys(%s): %v", lang, err)
		}
		// A sanity floor, so that an empty or unparsed catalogue cannot
		// pass by being equal to another empty one.
		for _, k := range []string{"nav.home", "diag.db.title", "error.not_found_title", "layout.footer_version"} {
			if !keys[k] {
				t.Errorf("%s catalogue has no %q: Keys is not reading it", lang, k)
			}
		}
		catalogues[lang] = keys
	}
	for _, lang := range i18n.Supported() {
		for _, other := range i18n.Supported() {
			if lang == other {
				continue
			}
			t.Run(lang+" has the keys of "+other, func(t *testing.T) {
				var missing []string
				for k := range catalogues[other] {
					if !catalogues[lang][k] {
						missing = append(missing, k)
					}
				}
				sort.Strings(missing)
				if len(missing) > 0 {
					t.Errorf("the %s catalogue lacks %d key(s) that the %s catalogue has:\n  %s",
						lang, len(missing), other, strings.Join(missing, "\n  "))
				}
			})
		}
	}
}

// keyUse is one message id found in the source.
type keyUse struct {
	key string
	pos string // file:line, relative to the repository root
}

var (
	// i18n.T(ctx, "key" …) in Go and templ code.
	reCtxT = regexp.MustCompile(`i18n\.T\(\s*[^,"\n]+,\s*"([^"\n]*)"\s*[,)]`)
	// loc.T("key" …) on a Localizer.
	reLocT = regexp.MustCompile(`\.T\(\s*"([^"\n]*)"\s*[,)]`)
	// Key: "key", TitleKey: "key", MessageKey: "key" in composite literals.
	reKeyField = regexp.MustCompile(`\b(?:Key|TitleKey|MessageKey)\s*:\s*"([^"\n]*)"`)
	// a.TitleKey, a.MessageKey = "key", "key" (any number of targets); the
	// targets not named like a key field are filtered out afterwards.
	reKeyAssign = regexp.MustCompile(`([\w.\[\]]+(?:\s*,\s*[\w.\[\]]+)*)\s*=\s*("[^"\n]*"(?:\s*,\s*"[^"\n]*")*)`)
	// s.layoutProps(c, "title.key", "nav.key").
	reLayoutProps = regexp.MustCompile(`layoutProps\(\s*\w+\s*,\s*"([^"\n]*)"(?:\s*,\s*"([^"\n]*)")?`)
	reLiteral     = regexp.MustCompile(`"([^"\n]*)"`)
)

var keyFields = map[string]bool{"Key": true, "TitleKey": true, "MessageKey": true}

// extractKeys returns the message ids that src uses, with their lines.
// It works line by line (calls are written on one line) and ignores
// comment lines, which quote calls as examples.
func extractKeys(name string, src []byte) []keyUse {
	var uses []keyUse
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		add := func(key string) {
			if key != "" {
				uses = append(uses, keyUse{key: key, pos: name + ":" + itoa(i+1)})
			}
		}
		for _, p := range []struct {
			trigger string
			re      *regexp.Regexp
		}{
			{"i18n.T(", reCtxT}, {".T(", reLocT}, {"Key", reKeyField}, {"layoutProps(", reLayoutProps},
		} {
			if !strings.Contains(line, p.trigger) {
				continue
			}
			for _, m := range p.re.FindAllStringSubmatch(line, -1) {
				for _, key := range m[1:] {
					add(key)
				}
			}
		}
		if !strings.Contains(line, "Key") {
			continue
		}
		for _, m := range reKeyAssign.FindAllStringSubmatch(line, -1) {
			targets := strings.Split(m[1], ",")
			values := reLiteral.FindAllStringSubmatch(m[2], -1)
			if len(targets) != len(values) {
				continue
			}
			for j, target := range targets {
				target = strings.TrimSpace(target)
				if keyFields[target[strings.LastIndex(target, ".")+1:]] {
					add(values[j][1])
				}
			}
		}
	}
	return uses
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

// sourceKeys walks the repository for Go and templ files and returns every
// message id they use. Generated *_templ.go files repeat their .templ
// source; tests are skipped because they use unknown ids on purpose.
func sourceKeys(t *testing.T, root string) []keyUse {
	t.Helper()
	var uses []keyUse
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			switch name {
			case "vendor", ".data", "node_modules", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".templ") ||
			strings.HasSuffix(name, "_templ.go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		uses = append(uses, extractKeys(filepath.ToSlash(rel), src)...)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return uses
}

func TestExtractKeys(t *testing.T) {
	src := `package x
func f() {
	a := i18n.T(ctx, "one.a")
	b := i18n.T(r.Context(), "two.b", "Count", 2)
	c := loc.T("three.c")
	d := i18n.T(ctx, item.Key)
	p.TitleKey, p.MessageKey = "four.title", "four.message"
	q.Other, q.MessageKey = "not.a.key", "five.message"
	n := []layout.NavItem{{Key: "six.nav", Href: "/"}}
	s.layoutProps(c, "seven.title", "seven.nav")
	s.layoutProps(c, "eight.title", "")
	s.layoutProps(c, p.TitleKey, "")
	if x.Key == "not.compared" {}
	// i18n.T(ctx, "not.code") in a comment
}
`
	got := map[string]string{}
	for _, u := range extractKeys("x.go", []byte(src)) {
		got[u.key] = u.pos
	}
	want := map[string]string{
		"one.a": "x.go:3", "two.b": "x.go:4", "three.c": "x.go:5",
		"four.title": "x.go:7", "four.message": "x.go:7", "five.message": "x.go:8",
		"six.nav": "x.go:9", "seven.title": "x.go:10", "seven.nav": "x.go:10", "eight.title": "x.go:11",
	}
	for k, pos := range want {
		if got[k] != pos {
			t.Errorf("key %q: found at %q, want %q", k, got[k], pos)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("extracted %q (at %s), which is not a message id", k, got[k])
		}
	}
}

// TestSourceKeysExist fails when code uses a message id that a catalogue
// does not have.
func TestSourceKeysExist(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the repository root: %v", root, err)
	}
	uses := sourceKeys(t, root)
	found := map[string]bool{}
	for _, u := range uses {
		found[u.key] = true
	}
	// Keys visibly used by the views and handlers: the extraction must find
	// them, so that this test cannot pass by finding nothing.
	for _, k := range []string{
		"diag.db.title",         // views/diag: i18n.T(ctx, …)
		"layout.footer_version", // views/layout, with template data
		"error.not_found_title", // handlers: p.TitleKey, p.MessageKey = …
		"error.internal",        // handlers: MessageKey, second target
		"nav.home",              // handlers: layout.NavItem{Key: …} and layoutProps
		"home.title",            // handlers: layoutProps title
		"diag.title",            // handlers: layoutProps title, views
	} {
		if !found[k] {
			t.Errorf("key extraction did not find %q, which the source uses", k)
		}
	}
	for _, lang := range i18n.Supported() {
		t.Run(lang, func(t *testing.T) {
			keys, err := i18n.Keys(lang)
			if err != nil {
				t.Fatal(err)
			}
			var missing []string
			for _, u := range uses {
				if !keys[u.key] {
					missing = append(missing, u.pos+": "+u.key)
				}
			}
			if len(missing) > 0 {
				t.Errorf("the %s catalogue lacks %d key(s) used in the source:\n  %s",
					lang, len(missing), strings.Join(missing, "\n  "))
			}
		})
	}
}

func newCatalog(t *testing.T, def string) *i18n.Catalog {
	t.Helper()
	c, err := i18n.New(def)
	if err != nil {
		t.Fatalf("New(%q): %v", def, err)
	}
	return c
}

func TestPick(t *testing.T) {
	tests := []struct {
		name           string
		defaultLocale  string
		userLocale     string
		acceptLanguage string
		want           string
	}{
		{"user fr beats Accept-Language en", "en", "fr", "en-US,en;q=0.9", "fr"},
		{"user en beats Accept-Language fr", "fr", "en", "fr", "en"},
		{"Accept-Language fr-CA then fr", "en", "", "fr-CA,fr;q=0.9", "fr"},
		{"Accept-Language prefers fr over en", "en", "", "fr;q=0.9,en;q=0.5", "fr"},
		{"Accept-Language en over default fr", "fr", "", "en-GB", "en"},
		{"unsupported user locale falls to Accept-Language", "en", "de", "fr", "fr"},
		{"Accept-Language de-DE gives default en", "en", "", "de-DE", "en"},
		{"Accept-Language de-DE gives default fr", "fr", "", "de-DE", "fr"},
		{"empty gives default en", "en", "", "", "en"},
		{"empty gives default fr", "fr", "", "", "fr"},
		{"malformed Accept-Language gives default", "fr", "", ";;;q=x", "fr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newCatalog(t, tt.defaultLocale).Pick(tt.userLocale, tt.acceptLanguage)
			if l == nil {
				t.Fatal("Pick returned nil")
			}
			if l.Lang() != tt.want {
				t.Errorf("Pick(%q, %q) with default %s = %s, want %s",
					tt.userLocale, tt.acceptLanguage, tt.defaultLocale, l.Lang(), tt.want)
			}
		})
	}
}

func TestNewRejectsUnsupportedDefault(t *testing.T) {
	for _, def := range []string{"de", "", "EN"} {
		t.Run("default "+def, func(t *testing.T) {
			if _, err := i18n.New(def); err == nil {
				t.Errorf("New(%q) succeeded", def)
			}
		})
	}
}

func TestTranslate(t *testing.T) {
	c := newCatalog(t, "en")
	wantHome := map[string]string{"en": "Home", "fr": "Accueil"}
	for _, lang := range i18n.Supported() {
		l := c.Pick(lang, "")
		ctx := i18n.NewContext(context.Background(), l)
		t.Run(lang+" plain message", func(t *testing.T) {
			if got := l.T("nav.home"); got != wantHome[lang] {
				t.Errorf("T(nav.home) = %q, want %q", got, wantHome[lang])
			}
			if got := i18n.T(ctx, "nav.home"); got != wantHome[lang] {
				t.Errorf("i18n.T(ctx, nav.home) = %q, want %q", got, wantHome[lang])
			}
			if got := i18n.Lang(ctx); got != lang {
				t.Errorf("Lang(ctx) = %q, want %q", got, lang)
			}
		})
		t.Run(lang+" template data", func(t *testing.T) {
			for _, got := range []string{
				l.T("layout.footer_version", "Version", "1.2"),
				i18n.T(ctx, "layout.footer_version", "Version", "1.2"),
			} {
				if got != "Violet 1.2" {
					t.Errorf("T(layout.footer_version, Version, 1.2) = %q, want %q", got, "Violet 1.2")
				}
			}
		})
		t.Run(lang+" unknown id", func(t *testing.T) {
			if got := l.T("no.such.message"); got != "no.such.message" {
				t.Errorf("T(no.such.message) = %q, want the id", got)
			}
		})
	}
	t.Run("languages differ", func(t *testing.T) {
		en, fr := c.Pick("en", "").T("error.not_found_title"), c.Pick("fr", "").T("error.not_found_title")
		if en == fr || slices.Contains([]string{en, fr}, "error.not_found_title") {
			t.Errorf("error.not_found_title: en %q, fr %q", en, fr)
		}
	})
	t.Run("context without Localizer", func(t *testing.T) {
		ctx := context.Background()
		if got := i18n.T(ctx, "nav.home"); got != "nav.home" {
			t.Errorf("i18n.T without Localizer = %q, want the id", got)
		}
		if got := i18n.FromContext(ctx); got != nil {
			t.Errorf("FromContext = %v, want nil", got)
		}
		if got := i18n.Lang(ctx); got != "en" {
			t.Errorf("Lang without Localizer = %q, want en", got)
		}
	})
}
