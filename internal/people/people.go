// Package people is the administration of accounts and groups: the user
// list and page, a user's groups, deactivation, deletion, restoration and
// the end of their sessions; groups, their permissions and their members.
// Every change is one transaction holding its audit record (see "A
// workflow" in docs/ARCHITECTURE.md); the viewer is the one in the
// context, as the ent privacy rules expect.
//
// Refusals a page explains (the last admin, oneself, a look-alike
// identity, the admin group keeping every permission) are *app.Invalid
// whose Key is the message; a request the form could not have sent (an
// unknown group or permission) is ErrUnknownGroup or ErrUnknownPermission.
package people

import (
	"errors"
	"time"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/auth"
)

// Requests the forms cannot send: the handlers answer them with 400.
var (
	ErrUnknownGroup      = errors.New("unknown group")
	ErrUnknownPermission = errors.New("unknown permission")
)

// Service runs the workflows on a database.
type Service struct {
	client   *ent.Client
	sessions *auth.SessionStore
	now      func() time.Time
}

// NewService returns the workflows on client; sessions ends the sessions
// of deactivated and deleted users; now is the clock (nil: time.Now).
func NewService(client *ent.Client, sessions *auth.SessionStore, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{client: client, sessions: sessions, now: now}
}

// refused is a change refused by a rule (the last admin, oneself): the
// transaction rolls back and the page says why. key is an i18n key.
func refused(key string) error { return &app.Invalid{Key: key} }

// RefusedKey returns the i18n key of a refusal, "" for other errors.
func RefusedKey(err error) string {
	var inv *app.Invalid
	if errors.As(err, &inv) {
		return inv.Key
	}
	return ""
}

// nonNil keeps an empty list a JSON array in the audit details.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
