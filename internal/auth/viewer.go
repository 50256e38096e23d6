package auth

import (
	"context"
	"slices"

	"github.com/google/uuid"
)

// Viewer is the signed-in user a request acts for, with the permissions
// read from the database for this request (never from the cookie).
type Viewer struct {
	UserID      uuid.UUID
	Email       string
	DisplayName string
	Locale      string
	TimeZone    string // IANA name, "" until chosen (shown in UTC)
	SessionID   uuid.UUID
	Groups      []string // group names, sorted
	Unread      int      // unread notifications when the request began, up to UnreadCap
	permissions map[Permission]bool
}

// NewViewer builds a viewer holding the given permission codes.
func NewViewer(userID uuid.UUID, email, displayName, locale string, sessionID uuid.UUID, groups []string, codes []string) *Viewer {
	v := &Viewer{
		UserID: userID, Email: email, DisplayName: displayName, Locale: locale,
		SessionID: sessionID, Groups: slices.Sorted(slices.Values(groups)),
		permissions: make(map[Permission]bool, len(codes)),
	}
	for _, c := range codes {
		v.permissions[Permission(c)] = true
	}
	return v
}

// Can reports whether the viewer holds permission p.
func (v *Viewer) Can(p Permission) bool { return v != nil && v.permissions[p] }

// CanAny reports whether the viewer holds at least one of ps.
func (v *Viewer) CanAny(ps ...Permission) bool {
	for _, p := range ps {
		if v.Can(p) {
			return true
		}
	}
	return false
}

// Permissions returns the viewer's permission codes, sorted.
func (v *Viewer) Permissions() []Permission {
	out := make([]Permission, 0, len(v.permissions))
	for p := range v.permissions {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// IsAdmin reports whether the viewer is in the admin group.
func (v *Viewer) IsAdmin() bool { return v != nil && slices.Contains(v.Groups, GroupAdmin) }

type viewerKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the request's viewer, or nil when nobody is signed in.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}
