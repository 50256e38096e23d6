// Package markdown turns text that people or MITRE wrote (ATT&CK descriptions,
// template descriptions, notes) into HTML that is safe to put in a page. It is
// the only place Violet writes HTML it did not escape itself (templ.Raw
// nowhere else): goldmark renders without raw HTML, then bluemonday's
// user-generated-content policy removes anything that could still run or
// restyle the page, and the result sits in an hx-disable container so htmx
// never acts on attributes inside it.
package markdown

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// converter is goldmark with GitHub's tables, strikethrough and bare links,
// and without the unsafe option: raw HTML in the source is dropped, and
// links or images with dangerous schemes (javascript:, vbscript:, data:
// other than images) get an empty address.
type converter struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// shared is built once and only read afterwards: goldmark and a finished
// bluemonday policy are safe for concurrent use.
var shared = sync.OnceValue(func() *converter {
	p := bluemonday.UGCPolicy()
	// External links open in a new tab with rel="nofollow noopener"; the
	// page's Referrer-Policy already sends no referrer.
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return &converter{
		md:     goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify)),
		policy: p,
	}
})

// citationRE matches ATT&CK's "(Citation: Name)" markers and the space
// before them: MITRE's site turns them into footnotes, Violet drops them.
var citationRE = regexp.MustCompile(`[ \t]*\(Citation: [^)]*\)`)

// StripCitations removes ATT&CK's "(Citation: Name)" markers from src.
func StripCitations(src string) string {
	if !strings.Contains(src, "(Citation:") {
		return src
	}
	return citationRE.ReplaceAllString(src, "")
}

// HTML renders src and sanitises the result. It returns "" for blank input.
// Citation markers are stripped first.
func HTML(src string) string {
	src = StripCitations(src)
	if strings.TrimSpace(src) == "" {
		return ""
	}
	c := shared()
	var buf bytes.Buffer
	if err := c.md.Convert([]byte(src), &buf); err != nil {
		// goldmark only fails when writing to the buffer fails, which a
		// bytes.Buffer does not; show the text escaped rather than nothing.
		return "<p>" + templ.EscapeString(src) + "</p>"
	}
	return c.policy.Sanitize(buf.String())
}

// Render is the component views use for markdown: the sanitised HTML in a
// <div class="markdown" hx-disable>, or nothing for blank input.
func Render(src string) templ.Component {
	html := HTML(src)
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		if html == "" {
			return nil
		}
		if _, err := io.WriteString(w, `<div class="markdown" hx-disable>`); err != nil {
			return err
		}
		// The one templ.Raw of the code base: html went through goldmark
		// without raw HTML and through bluemonday just above.
		if err := templ.Raw(html).Render(ctx, w); err != nil {
			return err
		}
		_, err := io.WriteString(w, `</div>`)
		return err
	})
}
