package markdown_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/internal/markdown"
)

// render returns the component's output and its parsed document.
func render(t *testing.T, src string) (string, *goquery.Document) {
	t.Helper()
	var buf bytes.Buffer
	if err := markdown.Render(src).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), d
}

// TestMarkdownIsInert: whatever the source holds, nothing in the output can
// run script, load a handler or act through htmx.
func TestMarkdownIsInert(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // text that must still be there
	}{
		{"javascript link", "[click me](javascript:alert(1))", "click me"},
		{"javascript link, mixed case and entity", "[x](JaVaScRiPt&#58;alert(1))", "x"},
		{"javascript autolink", "<javascript:alert(1)>", ""},
		{"vbscript link", "[v](vbscript:msgbox(1))", "v"},
		{"data link", "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "d"},
		{"javascript image", "![alt](javascript:alert(1))", ""},
		{"raw script", "before <script>alert(1)</script> after", "before"},
		{"script block", "<script>\nalert(1)\n</script>\n\ntext", "text"},
		{"img onerror", `<img src=x onerror=alert(1)>`, ""},
		{"onerror in a link title", `[t](https://example.com "x\" onmouseover=\"alert(1)")`, "t"},
		{"iframe", `<iframe src="https://evil.example"></iframe>`, ""},
		{"svg onload", `<svg onload=alert(1)></svg>`, ""},
		{"style", `<style>body{display:none}</style>`, ""},
		{"htmx attributes", "a <span hx-get=\"/logout\" hx-trigger=\"load\">x</span> b", "b"},
		{"form", "text <form action=\"/logout\" method=\"post\"><button>go</button></form>", "text"},
		{"inline event in html block", "<p onclick=\"alert(1)\">para</p>", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, d := render(t, tc.src)
			if n := d.Find("script, iframe, svg, style, form, button, input, object, embed, link, meta").Length(); n > 0 {
				t.Errorf("%d active element(s) survived:\n%s", n, out)
			}
			d.Find("*").Each(func(_ int, s *goquery.Selection) {
				for _, a := range s.Nodes[0].Attr {
					key, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
					switch {
					case strings.HasPrefix(key, "on"), strings.HasPrefix(key, "hx-") && key != "hx-disable",
						strings.HasPrefix(key, "data-hx"), key == "style":
						t.Errorf("attribute %s=%q survived:\n%s", a.Key, a.Val, out)
					case key == "href" || key == "src":
						if val != "" && !strings.HasPrefix(val, "http://") && !strings.HasPrefix(val, "https://") &&
							!strings.HasPrefix(val, "/") && !strings.HasPrefix(val, "mailto:") {
							t.Errorf("%s to %q survived:\n%s", a.Key, a.Val, out)
						}
					}
				}
			})
			if tc.want != "" && !strings.Contains(d.Text(), tc.want) {
				t.Errorf("text %q lost:\n%s", tc.want, out)
			}
		})
	}
}

// TestMarkdownRenders: ordinary markdown comes out as the HTML it means,
// inside the hx-disable container, with links marked and citations gone.
func TestMarkdownRenders(t *testing.T) {
	src := "Adversaries may abuse **PowerShell** commands (Citation: TechNet PowerShell)(Citation: Other 2020).\n\n" +
		"* `Invoke-Command` runs remotely\n* see [MITRE](https://attack.mitre.org/techniques/T1059/001) or [local](/attack/T1059)\n\n" +
		"| a | b |\n|---|---|\n| 1 | 2 |\n"
	out, d := render(t, src)
	box := d.Find("div.markdown")
	if box.Length() != 1 {
		t.Fatalf("no markdown container:\n%s", out)
	}
	if _, ok := box.Attr("hx-disable"); !ok {
		t.Errorf("container lacks hx-disable:\n%s", out)
	}
	if strings.Contains(out, "Citation") {
		t.Errorf("citations kept:\n%s", out)
	}
	if got := box.Find("p").First().Text(); got != "Adversaries may abuse PowerShell commands." {
		t.Errorf("first paragraph %q", got)
	}
	if box.Find("strong").Text() != "PowerShell" || box.Find("li code").Text() != "Invoke-Command" {
		t.Errorf("emphasis or code lost:\n%s", out)
	}
	if box.Find("table td").Length() != 2 {
		t.Errorf("table not rendered:\n%s", out)
	}
	ext := box.Find(`a[href="https://attack.mitre.org/techniques/T1059/001"]`)
	if rel := ext.AttrOr("rel", ""); !strings.Contains(rel, "nofollow") || !strings.Contains(rel, "noopener") {
		t.Errorf("external link rel = %q", rel)
	}
	if ext.AttrOr("target", "") != "_blank" {
		t.Errorf("external link target = %q", ext.AttrOr("target", ""))
	}
	if box.Find(`a[href="/attack/T1059"]`).Length() != 1 {
		t.Errorf("relative link lost:\n%s", out)
	}
}

func TestMarkdownBlank(t *testing.T) {
	for _, src := range []string{"", "  \n\t", "(Citation: Only)"} {
		if out, _ := render(t, src); out != "" {
			t.Errorf("Render(%q) = %q, want nothing", src, out)
		}
	}
}

func TestStripCitations(t *testing.T) {
	cases := map[string]string{
		"a (Citation: X) b":                "a b",
		"end.(Citation: A)(Citation: B)":   "end.",
		"no markers":                       "no markers",
		"keep (parentheses) (Citation: Y)": "keep (parentheses)",
		"(Citation: a b-c 2021) start":     " start",
	}
	for in, want := range cases {
		if got := markdown.StripCitations(in); got != want {
			t.Errorf("StripCitations(%q) = %q, want %q", in, got, want)
		}
	}
}
