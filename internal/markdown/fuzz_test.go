package markdown_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"

	"violet/internal/markdown"
)

// FuzzHTML is issue 9's fuzzing of the markdown sanitiser: whatever the
// source, rendering never panics and the output holds no element that runs or
// restyles anything, no event handler, no style attribute, no script URL and
// no raw tag copied from the source.
func FuzzHTML(f *testing.F) {
	for _, s := range []string{
		"",
		"# Title\n\nSome **bold** and _em_ text with `code`.\n\n- a\n- b\n\n1. one\n2. two",
		"| a | b |\n|---|---|\n| 1 | ~~2~~ |",
		"Visit https://attack.mitre.org/techniques/T1059/ (Citation: MITRE)",
		"[ok](https://example.com \"title\") ![img](https://example.com/x.png)",
		"```bash\necho <script>alert(1)</script>\n```",
		"<script>alert(1)</script>",
		"<SCRIPT SRC=//evil/x.js></SCRIPT>",
		"<img src=x onerror=alert(1)>",
		"<div style=\"position:fixed\">x</div>",
		"<a href=\"javascript:alert(1)\">x</a>",
		"[x](javascript:alert(1))",
		"[x](JaVaScRiPt&#58;alert(1))",
		"[x](java\tscript:alert(1))",
		"[x](&#x6A;avascript:alert(1))",
		"<javascript:alert(1)>",
		"[v](vbscript:msgbox(1))",
		"![i](data:text/html;base64,PHNjcmlwdD4=)",
		"<svg><script>alert(1)</script></svg>",
		"<iframe src=//evil></iframe>",
		"<div hx-get=/admin hx-trigger=load>",
		"<!-- <script> -->",
		"<p",
		"<a href='x",
		strings.Repeat(">", 500) + " quote",
		strings.Repeat("[", 500) + "x" + strings.Repeat("]", 500),
		strings.Repeat("- ", 300) + "deep list",
		strings.Repeat("*", 1000),
		"1" + strings.Repeat("0", 400) + ". huge ordered list start",
		"\x00<script>\x00",
		"\xff\xfe<img src=x onerror=alert(1)>\xc0",
		"(Citation: a<script>)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := markdown.HTML(src)
		checkInert(t, src, out)
		var buf bytes.Buffer
		if err := markdown.Render(src).Render(context.Background(), &buf); err != nil {
			t.Fatalf("Render(%q): %v", src, err)
		}
		if out == "" && buf.Len() != 0 || out != "" && buf.String() != `<div class="markdown" hx-disable>`+out+`</div>` {
			t.Fatalf("Render(%q) = %q, HTML gave %q", src, buf.String(), out)
		}
	})
}

// forbiddenElements are elements that run code, load documents, submit
// data or restyle the page; none may come out of the sanitiser.
var forbiddenElements = map[string]bool{
	"script": true, "style": true, "iframe": true, "frame": true, "frameset": true,
	"object": true, "embed": true, "applet": true, "form": true, "input": true,
	"button": true, "textarea": true, "select": true, "svg": true, "math": true,
	"base": true, "meta": true, "link": true, "template": true, "noscript": true,
}

// urlAttrs are the attributes that hold an address.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "xlink:href": true,
	"background": true, "poster": true, "cite": true, "longdesc": true, "srcset": true,
}

// checkInert tokenizes out the way a browser would and fails on anything
// active.
func checkInert(t *testing.T, src, out string) {
	t.Helper()
	if strings.Contains(strings.ToLower(out), "<script") {
		t.Fatalf("HTML(%q) = %q: contains <script", src, out)
	}
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("HTML(%q) = %q: tokenizer: %v", src, out, z.Err())
			}
			return
		}
		if tt == html.TextToken && bytes.ContainsAny(z.Raw(), "<>") {
			t.Fatalf("HTML(%q) = %q: unescaped < or > in text %q", src, out, z.Raw())
		}
		tok := z.Token()
		switch tt {
		case html.CommentToken, html.DoctypeToken:
			t.Fatalf("HTML(%q) = %q: raw %v token %q", src, out, tt, tok.Data)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			if forbiddenElements[tok.Data] {
				t.Fatalf("HTML(%q) = %q: element <%s>", src, out, tok.Data)
			}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(key, "on"):
					t.Fatalf("HTML(%q) = %q: event attribute %s", src, out, a.Key)
				case key == "style":
					t.Fatalf("HTML(%q) = %q: style attribute", src, out)
				case strings.HasPrefix(key, "hx-") || strings.HasPrefix(key, "data-hx-"):
					t.Fatalf("HTML(%q) = %q: htmx attribute %s", src, out, a.Key)
				case urlAttrs[key] && scriptURL(a.Val):
					t.Fatalf("HTML(%q) = %q: %s=%q", src, out, a.Key, a.Val)
				}
			}
		}
	}
}

// scriptURL reports whether a browser would run v (already entity-decoded
// by the tokenizer) as script: it ignores whitespace and control characters
// inside the scheme, as browsers do.
func scriptURL(v string) bool {
	v = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, v)
	return strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") ||
		strings.HasPrefix(v, "data:text/html") || strings.HasPrefix(v, "data:image/svg")
}
