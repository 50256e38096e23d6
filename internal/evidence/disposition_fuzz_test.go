package evidence_test

import (
	"mime"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"violet/internal/evidence"
)

// plainName is a name that needs no escaping in either parameter.
var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// FuzzContentDisposition is issue 9's fuzzing of the download filename
// builder: whatever the uploaded name, the header is printable ASCII,
// parses (mime.ParseMediaType) as the asked disposition with one
// parameter, filename, that is the sanitised name (so no separator,
// control character or NUL) within NameMax bytes; the ASCII fallback alone
// parses too and holds nothing that could end it; and a plain name comes
// back unchanged in both parameters.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{
		"",
		"shot.png",
		"capture-2026-03-14_1.pcapng",
		"capture 2026-03-14 (1).pcapng",
		"../../etc/passwd",
		`..\..\Windows\win.ini`,
		"evil\r\nSet-Cookie: a=b.txt",
		"a\x00b.txt",
		`quote".txt`,
		`x"; filename="evil.exe`,
		`x; filename*=UTF-8''evil.exe`,
		"100%25 sure %0d%0a.txt",
		`back\slash"quote;semi%percent.txt`,
		"naïve résumé 報告.pdf",
		"report\u202egnp.exe",
		"\xff\xfe\xc0.txt",
		"'single'quotes'.txt",
		"=?utf-8?q?encoded?=.txt",
		strings.Repeat("é", 150) + ".png",
		strings.Repeat("%", 300),
		strings.Repeat(`"`, 50),
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, attachment bool) {
		kind := "inline"
		if attachment {
			kind = "attachment"
		}
		header := evidence.ContentDisposition(kind, in)
		for i := 0; i < len(header); i++ {
			if header[i] < 0x20 || header[i] > 0x7e {
				t.Fatalf("ContentDisposition(%q) = %q: byte %#x in a header", in, header, header[i])
			}
		}
		got, params, err := mime.ParseMediaType(header)
		if err != nil || got != kind {
			t.Fatalf("ContentDisposition(%q) = %q: parses as %q (%v)", in, header, got, err)
		}
		if len(params) != 1 {
			t.Fatalf("ContentDisposition(%q) = %q: parameters %q, want filename alone", in, header, params)
		}
		name := params["filename"]
		if want := evidence.SanitizeName(in); name != want {
			t.Fatalf("ContentDisposition(%q) = %q: filename %q, want the sanitised %q", in, header, name, want)
		}
		checkFilename(t, in, name)

		// Old clients read only the quoted fallback: it must stand alone.
		fallback, _, ok := strings.Cut(header, "; filename*=")
		if !ok {
			t.Fatalf("ContentDisposition(%q) = %q: no filename*", in, header)
		}
		_, params, err = mime.ParseMediaType(fallback)
		if err != nil || len(params) != 1 {
			t.Fatalf("ContentDisposition(%q): fallback %q parses as %q (%v)", in, fallback, params, err)
		}
		ascii := params["filename"]
		checkFilename(t, in, ascii)
		if strings.ContainsAny(ascii, `"%;`) || utf8.RuneCountInString(ascii) != utf8.RuneCountInString(name) {
			t.Fatalf("ContentDisposition(%q): fallback %q for %q", in, ascii, name)
		}

		if plainName.MatchString(in) {
			want := kind + `; filename="` + in + `"; filename*=UTF-8''` + in
			if header != want || name != in || ascii != in {
				t.Fatalf("plain name %q: %q, want %q", in, header, want)
			}
		}
	})
}

// checkFilename fails when a served name could leave the download folder,
// hide characters or break out of the header.
func checkFilename(t *testing.T, in, name string) {
	t.Helper()
	switch {
	case name == "" || len(name) > evidence.NameMax || !utf8.ValidString(name):
		t.Fatalf("%q: filename %q (%d bytes)", in, name, len(name))
	case strings.ContainsAny(name, "/\\\x00") || name == "." || name == "..":
		t.Fatalf("%q: filename %q is a path", in, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			t.Fatalf("%q: filename %q holds %U", in, name, r)
		}
	}
}
