// Package i18n holds Violet's message catalogues (English and French, one
// file per area of the interface: locales/<area>.<lang>.toml) and
// picks the language of each request: the user's own choice, else the
// browser's Accept-Language, else the instance default. Every user-visible
// string goes through T; a test fails when a key is missing in a language.
package i18n

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.toml
var locales embed.FS

// Supported lists the languages Violet speaks, the first being the fallback
// of last resort.
func Supported() []string { return []string{"en", "fr"} }

// Catalog is the loaded set of messages with one Localizer per language.
type Catalog struct {
	matcher    language.Matcher
	def        string
	localizers map[string]*Localizer
}

// New loads the embedded catalogues. defaultLocale is used when neither the
// user nor the browser names a supported language.
func New(defaultLocale string) (*Catalog, error) {
	bundle := goi18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{def: defaultLocale, localizers: map[string]*Localizer{}}
	var tags []language.Tag
	for _, lang := range Supported() {
		files, err := catalogueFiles(lang)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if _, err := bundle.LoadMessageFileFS(locales, f); err != nil {
				return nil, fmt.Errorf("load %s: %w", f, err)
			}
		}
		tags = append(tags, language.MustParse(lang))
		c.localizers[lang] = &Localizer{lang: lang, loc: goi18n.NewLocalizer(bundle, lang)}
	}
	if _, ok := c.localizers[defaultLocale]; !ok {
		return nil, fmt.Errorf("default locale %q is not one of %v", defaultLocale, Supported())
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// Pick returns the language for a request: the user's locale when it is
// supported, else the best match of the Accept-Language header, else the
// instance default.
func (c *Catalog) Pick(userLocale, acceptLanguage string) *Localizer {
	if l, ok := c.localizers[userLocale]; ok {
		return l
	}
	if acceptLanguage != "" {
		prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
		if err == nil && len(prefs) > 0 {
			_, idx, conf := c.matcher.Match(prefs...)
			if conf != language.No {
				return c.localizers[Supported()[idx]]
			}
		}
	}
	return c.localizers[c.def]
}

// Localizer translates messages into one language.
type Localizer struct {
	lang string
	loc  *goi18n.Localizer
}

// Lang returns the language code, for <html lang>.
func (l *Localizer) Lang() string { return l.lang }

// T translates id. args are key/value pairs for the message's template
// ({{.Name}}); a "Count" key also selects the plural form. A missing
// message shows its id, which the catalogue test prevents from shipping.
func (l *Localizer) T(id string, args ...any) string {
	cfg := &goi18n.LocalizeConfig{MessageID: id}
	if len(args) > 0 {
		data := make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			key := fmt.Sprint(args[i])
			data[key] = args[i+1]
			if key == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		cfg.TemplateData = data
	}
	s, err := l.loc.Localize(cfg)
	if err != nil {
		return id
	}
	return s
}

type ctxKey struct{}

// NewContext returns ctx carrying l, for views and handlers.
func NewContext(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request's Localizer, or nil.
func FromContext(ctx context.Context) *Localizer {
	l, _ := ctx.Value(ctxKey{}).(*Localizer)
	return l
}

// T translates id in the language carried by ctx. Views call it as
// i18n.T(ctx, "key"). Without a Localizer in ctx it returns the id, which
// makes a forgotten middleware visible instead of silently English.
func T(ctx context.Context, id string, args ...any) string {
	if l := FromContext(ctx); l != nil {
		return l.T(id, args...)
	}
	return id
}

// Lang returns the language carried by ctx, "en" without one.
func Lang(ctx context.Context) string {
	if l := FromContext(ctx); l != nil {
		return l.lang
	}
	return Supported()[0]
}

// keys flattens a decoded TOML catalogue into message ids; a table holding
// plural forms (one/other) is one message. Used by the completeness test.
func keys(prefix string, m map[string]any, out map[string]bool) {
	for k, v := range m {
		id := k
		if prefix != "" {
			id = prefix + "." + k
		}
		sub, ok := v.(map[string]any)
		if !ok {
			out[id] = true
			continue
		}
		if _, plural := sub["other"]; plural {
			out[id] = true
			continue
		}
		keys(id, sub, out)
	}
}

// catalogueFiles lists the message files of lang: one file per area of
// the interface, named <area>.<lang>.toml.
func catalogueFiles(lang string) ([]string, error) {
	files, err := fs.Glob(locales, "locales/*."+lang+".toml")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no message files for %s: %v", lang, err)
	}
	return files, nil
}

// Keys returns every message id in the catalogue of lang.
func Keys(lang string) (map[string]bool, error) {
	files, err := catalogueFiles(lang)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range files {
		b, err := locales.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := toml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		keys("", m, out)
	}
	return out, nil
}
