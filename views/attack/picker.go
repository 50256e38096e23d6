package attack

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"violet/internal/paths"
)

// PickerLimit is the most results one picker search shows.
const PickerLimit = 20

// MaxPicked is the most entries one picker submits; more is not a form a
// person filled in.
const MaxPicked = 100

// PickedTag is an entry a form has already picked: the picker shows it
// ticked above the search, and keeps it whatever the search shows.
type PickedTag struct {
	Kind       string // KindTactic, KindTechnique or KindSubtechnique
	ID         string // the catalogue row's UUID
	ExternalID string
	Name       string
	Parent     string // a sub-technique's technique name
}

func (t PickedTag) hit() Hit {
	return Hit{Entry: Entry{Kind: t.Kind, ExternalID: t.ExternalID, Name: t.Name}, ID: t.ID, Parent: t.Parent}
}

// PickerProps configures a Picker.
type PickerProps struct {
	// Name is the form field the ticked boxes submit, and the root of the
	// picker's element ids; it must satisfy ValidPickerName.
	Name string
	// Label is the i18n key of the picker's legend; "" means "ATT&CK tags".
	Label    string
	Selected []PickedTag
}

func (p PickerProps) label() string {
	if p.Label == "" {
		return "attack.picker.label"
	}
	return p.Label
}

// pickerID is the element id of the picker named name; its parts add
// "-selected", "-results" and "-q".
func pickerID(name string) string { return "picker-" + name }

// PickerURL is the picker endpoint's address for a picker named name.
func PickerURL(name string) string { return paths.AttackPicker + "?name=" + name }

// PickerResult is one search of a picker: the rows it offers.
type PickerResult struct {
	Name  string // the picker's field name
	Query string
	Hits  []Hit
	More  bool // more entries matched than shown
}

var pickerNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,39}$`)

// ValidPickerName reports whether name can name a picker: it becomes a
// form field name and part of element ids and of a URL, so it is kept to
// letters, digits, "_" and "-"; "q" and "name" are the picker endpoint's
// own parameters.
func ValidPickerName(name string) bool {
	return pickerNameRE.MatchString(name) && name != "q" && name != "name"
}

// PickedRef is an entry a picker submitted: its kind and catalogue row.
type PickedRef struct {
	Kind string
	ID   uuid.UUID
}

// ErrInvalidPick is wrapped by every error of ParsePicked.
var ErrInvalidPick = errors.New("invalid ATT&CK pick")

// ParsePicked reads the values a picker submitted ("<kind>:<uuid>", kind
// being tactic, technique or subtechnique) in order, dropping repeats (a
// box ticked in the results and in the selection). Anything else, or more
// than MaxPicked entries, is an error wrapping ErrInvalidPick; whether the
// rows exist and are active is for the caller to check in its transaction.
func ParsePicked(values []string) ([]PickedRef, error) {
	out := make([]PickedRef, 0, len(values))
	seen := make(map[PickedRef]bool, len(values))
	for _, v := range values {
		kind, id, ok := strings.Cut(v, ":")
		switch kind {
		case KindTactic, KindTechnique, KindSubtechnique:
		default:
			ok = false
		}
		if !ok || len(id) != 36 {
			return nil, fmt.Errorf("%w: %q is not <kind>:<uuid>", ErrInvalidPick, v)
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrInvalidPick, v, err)
		}
		ref := PickedRef{Kind: kind, ID: u}
		if seen[ref] {
			continue
		}
		seen[ref] = true
		out = append(out, ref)
		if len(out) > MaxPicked {
			return nil, fmt.Errorf("%w: more than %d entries", ErrInvalidPick, MaxPicked)
		}
	}
	return out, nil
}
