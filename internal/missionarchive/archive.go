// Package missionarchive moves a whole mission from one Violet to another
// (issue 22, part 5): Export writes it as one zip archive, the mission's
// JSON document (internal/export, MissionDocument) as manifest.json plus
// every evidence file under evidence/<sha256>; Read checks an uploaded
// archive and refuses a bad one whole, with the reason; Preview says what
// an import would create and who is left out; Import creates the mission
// in one transaction. The format is documented in docs/archive.md.
//
// Zip rather than tar.gz: a zip's central directory names every entry and
// its sizes before a byte is inflated, so an archive with an unexpected,
// missing or unsafe name, or sizes past the limits, is refused without
// reading it; entries are read in any order (the manifest first, then the
// files it names) from the uploaded file, which is on disk anyway; and a
// zip is opened by every operating system's file manager, so people can
// look inside. A tar.gz would have to be inflated from the start to find
// the manifest, and checked only as it streams.
package missionarchive

import (
	"errors"
	"fmt"

	"violet/internal/app"
)

// Format and Version name the manifest's format: the JSON export's
// document (internal/export), whose version changes when a field changes
// meaning.
const (
	Format  = "violet-mission"
	Version = 1
)

// Names inside the archive.
const (
	ManifestName   = "manifest.json"
	EvidencePrefix = "evidence/"
)

// The limits of an archive read (the hardening issue's: every parser is
// bounded before it runs). An evidence file's own limit is the instance's
// evidence.max_upload_bytes setting, the same as for an upload.
const (
	// MaxArchiveBytes bounds the archive as uploaded.
	MaxArchiveBytes = 2 << 30
	// MaxExpandedBytes bounds what its entries declare once inflated.
	MaxExpandedBytes = 4 << 30
	// MaxManifestBytes and MaxManifestDepth bound manifest.json
	// (internal/parselimit), as the ATT&CK bundle is bounded.
	MaxManifestBytes = 64 << 20
	MaxManifestDepth = 64
	// MaxEntries bounds the entries of the archive.
	MaxEntries = 20000
	// MaxRatio bounds how much an entry of more than RatioFloor bytes may
	// inflate: ordinary files deflate by 2 to 10 times, a zip bomb by
	// hundreds or thousands.
	MaxRatio   = 100
	RatioFloor = 1 << 20
)

// Refused is an archive refused whole: Reason is a message key
// (missionarchive.refused.*), Detail what it names (an entry's name, a
// field), shown as is. errors.Is(err, app.ErrInvalid) is true for it.
type Refused struct {
	Reason string
	Detail string
}

func (r *Refused) Error() string {
	if r.Detail == "" {
		return "mission archive refused: " + r.Reason
	}
	return fmt.Sprintf("mission archive refused: %s: %s", r.Reason, r.Detail)
}

// Is makes a refusal an invalid input (422).
func (r *Refused) Is(target error) bool { return target == app.ErrInvalid }

// refuse returns a *Refused for the reason (the key's last part).
func refuse(reason, detail string) error {
	return &Refused{Reason: "missionarchive.refused." + reason, Detail: detail}
}

// ErrAlreadyImported is an archive whose mission this instance already
// imported (missions.import_key): a second import is refused (409) rather
// than made a copy or silently skipped, so that nobody mistakes the
// second click for a second mission.
var ErrAlreadyImported = fmt.Errorf("%w: this mission archive was already imported", app.ErrConflict)

// AlreadyImported names the mission an archive was imported as.
type AlreadyImported struct {
	MissionID   string
	MissionName string
}

func (a *AlreadyImported) Error() string { return ErrAlreadyImported.Error() + " as " + a.MissionName }

// Unwrap makes errors.Is(err, ErrAlreadyImported) (and app.ErrConflict) true.
func (a *AlreadyImported) Unwrap() error { return ErrAlreadyImported }

// asRefused reports whether err is a refusal.
func asRefused(err error) (*Refused, bool) {
	var r *Refused
	ok := errors.As(err, &r)
	return r, ok
}
