package evidence_test

import (
	"mime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"violet/internal/evidence"
)

// FuzzSanitizeName is issue 9's fuzzing of the name evidence downloads are
// served under: whatever the uploaded name, the result is one non-empty
// path element of valid UTF-8, without control or bidirectional-override
// characters, at most NameMax bytes, and a Content-Disposition built from
// it parses back to the same name.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{
		"",
		"shot.png",
		"capture 2026-03-14 (1).pcapng",
		"../../etc/passwd.txt",
		`..\..\Windows\win.ini.txt`,
		"/abs/path/",
		"evil\r\nX-Header: 1.txt",
		"a\x00b.txt",
		"report\u202egnp.exe.txt",
		"..",
		".",
		"  .hidden.log ",
		`quote".txt`,
		`semi;colon=1 "x".txt`,
		"\xff\xfebad.txt",
		"\xc0",
		"naïve résumé 報告.pdf",
		"\u2028\u2029\u200e\u200f",
		strings.Repeat("é", 150) + ".png",
		strings.Repeat("a", 300) + "." + strings.Repeat("b", 40),
		strings.Repeat("日", 100) + "\xff.txt",
		strings.Repeat(".", 250) + "x",
		"%00%2F..%2Fx.txt",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name := evidence.SanitizeName(in)
		switch {
		case name == "":
			t.Fatalf("SanitizeName(%q) is empty", in)
		case len(name) > evidence.NameMax:
			t.Fatalf("SanitizeName(%q) = %q: %d bytes", in, name, len(name))
		case !utf8.ValidString(name):
			t.Fatalf("SanitizeName(%q) = %q: not UTF-8", in, name)
		case strings.ContainsAny(name, `/\`):
			t.Fatalf("SanitizeName(%q) = %q: path separator", in, name)
		case name == "." || name == ".." || strings.HasPrefix(name, "."):
			t.Fatalf("SanitizeName(%q) = %q: dot name", in, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("SanitizeName(%q) = %q: character %U", in, name, r)
			}
		}
		header := mime.FormatMediaType("attachment", map[string]string{"filename": name})
		if header == "" {
			t.Fatalf("SanitizeName(%q) = %q: no Content-Disposition can carry it", in, name)
		}
		kind, params, err := mime.ParseMediaType(header)
		if err != nil || kind != "attachment" || params["filename"] != name {
			t.Fatalf("SanitizeName(%q) = %q: %q parses back as %q %q (%v)", in, name, header, kind, params, err)
		}
	})
}
