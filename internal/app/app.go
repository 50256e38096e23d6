// Package app holds what every workflow of the application layer shares:
// the kinds of failure a workflow reports. A workflow (a use case in its
// domain package: internal/mission, internal/library, internal/invite, …)
// wraps one of these errors, and handlers.statusOf turns the kind into an
// HTTP status in one table; the JSON API will map the same kinds. See
// docs/ARCHITECTURE.md, "A workflow".
package app

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The kinds of failure. Wrap them (fmt.Errorf("%w: …", app.ErrConflict)
// or errors.Join) so errors.Is finds the kind and the message stays
// specific.
var (
	// ErrNotFound: the thing does not exist or the viewer may not know it
	// does (404).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the viewer may see the thing but not do this (403).
	ErrForbidden = errors.New("not allowed")
	// ErrConflict: the thing changed since the viewer read it, or its
	// state forbids the change right now (409).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule (422); see Invalid for errors
	// per field.
	ErrInvalid = errors.New("invalid input")
	// ErrBusy: the same work is already running; try again later (409).
	ErrBusy = errors.New("busy")
)

// Invalid is a validation failure: a message key per form field (and Key
// for the form as a whole), for the form to show next to each field with
// the input kept. errors.Is(err, ErrInvalid) is true for it.
type Invalid struct {
	Key    string            // a message key for the whole form, or ""
	Fields map[string]string // field name → message key
}

// Invalidf returns an Invalid with one field's message key.
func Invalidf(field, key string) *Invalid {
	return &Invalid{Fields: map[string]string{field: key}}
}

// Error lists the fields in a stable order.
func (e *Invalid) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("invalid input")
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	for _, n := range names {
		fmt.Fprintf(&b, "; %s: %s", n, e.Fields[n])
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Invalid) Is(target error) bool { return target == ErrInvalid }

// Add records key for field and returns e, for building up one error.
func (e *Invalid) Add(field, key string) *Invalid {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	e.Fields[field] = key
	return e
}

// Err returns e when it holds a failure and nil otherwise, so a workflow
// can collect every field's error and return them together.
func (e *Invalid) Err() error {
	if e == nil || (e.Key == "" && len(e.Fields) == 0) {
		return nil
	}
	return e
}
