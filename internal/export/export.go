// Package export writes a mission, read through internal/missionread, as
// files to download: its tests as CSV, the whole mission as a JSON
// archive, and its ATT&CK coverage as a Navigator layer
// (internal/navigator); and reads a Navigator layer back into the plan
// (LayerRows, AddFromLayer).
//
// Exports read the mission through the request's context: the privacy
// policies give blue members the released tests only, exactly as on the
// overview, and every field of a test the viewer sees (as on its page).
package export

import (
	"bytes"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// File is an export ready to send: its bytes (Data), or, for the exports
// that grow with the mission (the CSV and the JSON archive), the function
// that writes them (Body), so that the file is encoded straight to the
// response a test at a time instead of whole into memory first.
type File struct {
	ContentType string
	// Name is the download name in ASCII; UnicodeName keeps the letters
	// of every script, for the filename* parameter browsers prefer
	// (RFC 6266), "" when it says nothing Name does not.
	Name, UnicodeName string
	Data              []byte
	// Body, when set, writes the file (Data is nil). It only encodes what
	// was read before the File was returned: an error from it is a
	// failure to write, once part of the file may be sent.
	Body func(w io.Writer) error
}

// Bytes returns the whole file: Data, or what Body writes.
func (f File) Bytes() ([]byte, error) {
	if f.Body == nil {
		return f.Data, nil
	}
	var b bytes.Buffer
	err := f.Body(&b)
	return b.Bytes(), err
}

// newFile names an export after its mission.
func newFile(contentType, missionName, suffix string, data []byte) File {
	name := filename(missionName, suffix)
	return File{ContentType: contentType, Name: name, UnicodeName: unicodeFilename(missionName, suffix, name), Data: data}
}

// newStream names an export written by body after its mission.
func newStream(contentType, missionName, suffix string, body func(io.Writer) error) File {
	f := newFile(contentType, missionName, suffix, nil)
	f.Body = body
	return f
}

// filename makes a download name from the mission's name: ASCII letters,
// digits, dots and dashes only (quotes, slashes and control characters can
// never reach the header), at most 80 characters.
func filename(name, suffix string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if b.Len() >= 80 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.' || r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	base := strings.Trim(b.String(), "-.")
	if base == "" {
		base = "mission"
	}
	return base + "-" + suffix
}

// unicodeFilename keeps the letters and digits of every script; "" when it
// says nothing the ASCII name does not.
func unicodeFilename(name, suffix, ascii string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if utf8.RuneCountInString(b.String()) >= 80 {
			break
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	full := strings.Trim(b.String(), "-.") + "-" + suffix
	if full == ascii || strings.HasPrefix(full, "-") {
		return ""
	}
	return full
}

// stamp formats an instant in UTC, or "" for none.
func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// optStamp is an instant or null.
func optStamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := stamp(t)
	return &s
}

// optDate is a calendar date or null.
func optDate(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

// optID is an id or null.
func optID(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}

// NewStream names a file written by body after its mission, as every
// export is named (the whole-mission archive of internal/missionarchive).
func NewStream(contentType, missionName, suffix string, body func(io.Writer) error) File {
	return newStream(contentType, missionName, suffix, body)
}
