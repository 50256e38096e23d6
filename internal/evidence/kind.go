package evidence

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Class is what Violet does with a kind of file.
type Class string

// Classes of accepted files.
const (
	ClassImage   Class = "image"   // shown through a re-encoded preview
	ClassText    Class = "text"    // UTF-8 without NUL, downloaded
	ClassCapture Class = "capture" // pcap, pcapng
	ClassPDF     Class = "pdf"
	ClassArchive Class = "archive" // downloaded only, never extracted
)

// format is one accepted file format: the extensions it may carry, how
// its first bytes look, and the content type it is served with.
type format struct {
	name        string
	class       Class
	contentType string
	exts        []string
	magic       func(head []byte) bool
}

func prefix(p string) func([]byte) bool {
	return func(h []byte) bool { return bytes.HasPrefix(h, []byte(p)) }
}

func anyOf(fs ...func([]byte) bool) func([]byte) bool {
	return func(h []byte) bool {
		for _, f := range fs {
			if f(h) {
				return true
			}
		}
		return false
	}
}

// formats is the allowlist. Everything else — HTML, SVG, XML,
// executables, scripts, office documents — is refused.
var formats = []format{
	{"png", ClassImage, "image/png", []string{".png"}, prefix("\x89PNG\r\n\x1a\n")},
	{"jpeg", ClassImage, "image/jpeg", []string{".jpg", ".jpeg"}, prefix("\xff\xd8\xff")},
	{"gif", ClassImage, "image/gif", []string{".gif"}, anyOf(prefix("GIF87a"), prefix("GIF89a"))},
	{"webp", ClassImage, "image/webp", []string{".webp"}, func(h []byte) bool {
		return len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WEBP"
	}},
	{"text", ClassText, "text/plain; charset=utf-8", []string{".txt", ".log"}, isText},
	{"csv", ClassText, "text/csv; charset=utf-8", []string{".csv"}, isText},
	{"json", ClassText, "application/json", []string{".json"}, isText},
	{"pcap", ClassCapture, "application/vnd.tcpdump.pcap", []string{".pcap", ".cap"}, anyOf(
		prefix("\xd4\xc3\xb2\xa1"), prefix("\xa1\xb2\xc3\xd4"), // microseconds, both byte orders
		prefix("\x4d\x3c\xb2\xa1"), prefix("\xa1\xb2\x3c\x4d"), // nanoseconds
	)},
	{"pcapng", ClassCapture, "application/x-pcapng", []string{".pcapng", ".pcap"}, prefix("\x0a\x0d\x0d\x0a")},
	{"pdf", ClassPDF, "application/pdf", []string{".pdf"}, prefix("%PDF-")},
	{"zip", ClassArchive, "application/zip", []string{".zip"}, anyOf(prefix("PK\x03\x04"), prefix("PK\x05\x06"))},
	{"gzip", ClassArchive, "application/gzip", []string{".gz", ".tgz"}, prefix("\x1f\x8b")},
	{"7z", ClassArchive, "application/x-7z-compressed", []string{".7z"}, prefix("7z\xbc\xaf\x27\x1c")},
	{"tar", ClassArchive, "application/x-tar", []string{".tar"}, func(h []byte) bool {
		return len(h) >= 262 && string(h[257:262]) == "ustar"
	}},
}

// Kind is the accepted format of a file.
type Kind struct {
	Name        string // png, jpeg, …
	Class       Class
	ContentType string
}

// Detect returns the format of a file named name whose first bytes are
// head (at least 512 of them, or the whole file): its extension must be on
// the allowlist AND its content must start like that format. ok is false
// for anything else.
func Detect(name string, head []byte) (Kind, bool) {
	ext := strings.ToLower(filepath.Ext(name))
	for _, f := range formats {
		for _, e := range f.exts {
			if e == ext && f.magic(head) {
				return Kind{Name: f.name, Class: f.class, ContentType: f.contentType}, true
			}
		}
	}
	return Kind{}, false
}

// isText accepts the start of a text file: UTF-8 (a rune cut at the end
// of head is fine) without NUL, and not markup a browser would run (HTML,
// SVG, XML). The rest of the file is checked while it streams.
func isText(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	trimmed := head
	for i := 0; i < utf8.UTFMax && len(trimmed) > 0 && !utf8.Valid(trimmed); i++ {
		trimmed = trimmed[:len(trimmed)-1]
	}
	if !utf8.Valid(trimmed) {
		return false
	}
	switch ct := http.DetectContentType(head); {
	case strings.HasPrefix(ct, "text/html"), strings.HasPrefix(ct, "text/xml"):
		return false
	}
	lower := bytes.ToLower(bytes.TrimLeft(head, "\ufeff \t\r\n"))
	return !bytes.HasPrefix(lower, []byte("<svg")) && !bytes.HasPrefix(lower, []byte("<?xml"))
}

// NameMax caps a sanitised name, in bytes (the column holds 255).
const NameMax = 200

// SanitizeName returns the uploaded name fit for display and for a
// Content-Disposition: the last path element only, without control or
// bidirectional-override characters, trimmed, at most NameMax bytes (the
// extension kept). An empty result is "file".
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == '\u2028', r == '\u2029':
			return -1
		case r == '"' || r == ':' || r == '*' || r == '?' || r == '<' || r == '>' || r == '|':
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	name = strings.TrimLeft(name, ".")
	if len(name) > NameMax {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		base := name[:NameMax-len(ext)]
		for !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
		name = base + ext
	}
	if name == "" {
		return "file"
	}
	return name
}
