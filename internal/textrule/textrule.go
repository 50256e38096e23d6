// Package textrule is the one rule for text at Violet's edge: every value
// that reaches the database or a parser is valid UTF-8, holds no NUL byte
// and fits its column. PostgreSQL refuses the first two with an error
// (22021, 22P05) that would otherwise surface as a 500; the column lengths
// come from the ent schema itself, so they are written in one place.
package textrule

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"entgo.io/ent"
)

// Errors of Check. They are sentinel values so callers can map them to the
// message they show.
var (
	ErrNUL         = errors.New("contains a NUL character")
	ErrInvalidUTF8 = errors.New("is not valid UTF-8 text")
)

// TooLongError is a value longer than its column allows.
type TooLongError struct{ Max int }

func (e *TooLongError) Error() string { return fmt.Sprintf("is longer than %d characters", e.Max) }

// Check reports whether s is text PostgreSQL accepts: valid UTF-8 without
// NUL bytes.
func Check(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return ErrNUL
	}
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	return nil
}

// Rule is the length rule of one string field of the ent schema.
type Rule struct {
	// Max is the field's declared length (MaxLen or MaxRuneLen), 0 when it
	// has none.
	Max int
	// Bytes is true when the schema counts bytes (MaxLen), false when it
	// counts characters (MaxRuneLen).
	Bytes bool
}

// fielder is an ent schema type (schema.Mission{} …).
type fielder interface{ Fields() []ent.Field }

// For returns the rule of the string field name of the schema type s. A
// missing field is a programming error and panics at the first call, which
// the tests reach.
func For(s fielder, name string) Rule {
	for _, f := range s.Fields() {
		d := f.Descriptor()
		if d.Name != name {
			continue
		}
		r := Rule{Max: d.Size}
		if r.Max > 0 && r.Max < 1<<20 {
			// ent keeps no record of whether MaxLen or MaxRuneLen set the
			// size, but its validators tell: Max two-byte characters pass a
			// rune limit and fail a byte limit, which half as many pass.
			full, half := strings.Repeat("é", r.Max), strings.Repeat("é", r.Max/2)
			r.Bytes = failsAny(d.Validators, full) && !failsAny(d.Validators, half)
		}
		return r
	}
	panic(fmt.Sprintf("textrule: %T has no field %q", s, name))
}

func failsAny(validators []any, v string) bool {
	for _, fn := range validators {
		if fn, ok := fn.(func(string) error); ok && fn(v) != nil {
			return true
		}
	}
	return false
}

// Len is the length of v as the rule counts it.
func (r Rule) Len(v string) int {
	if r.Bytes {
		return len(v)
	}
	return utf8.RuneCountInString(v)
}

// Check applies Check and then the field's length. An empty value passes:
// whether a field is required is the form's business.
func (r Rule) Check(v string) error {
	if err := Check(v); err != nil {
		return err
	}
	if r.Max > 0 && r.Len(v) > r.Max {
		return &TooLongError{Max: r.Max}
	}
	return nil
}
