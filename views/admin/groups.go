package admin

import (
	"context"
	"strings"

	"violet/internal/i18n"
	"violet/internal/paths"
	"violet/views/components"
)

// GroupRow is one line of the group list.
type GroupRow struct {
	ID          string
	Name        string
	Description string
	System      bool
	Members     int
	Permissions int
}

// GroupForm is the name and description form of a group, new or
// existing. System groups keep their name: the field is read-only.
type GroupForm struct {
	ID          string // "" for a new group
	Name        string
	Description string
	System      bool
	// RequireSecondFactor: members must sign in with a second factor.
	RequireSecondFactor bool
	Errors              components.Errors
}

// Action is where the form posts.
func (f GroupForm) Action() string {
	if f.ID == "" {
		return paths.Groups
	}
	return paths.URL(paths.Group, f.ID)
}

// Permission notes shown on a matrix row after an htmx change.
const (
	NoteSaved  = "saved"
	NoteFailed = "failed"
)

// PermissionRow is one row of a group's permission matrix.
type PermissionRow struct {
	GroupID string
	Code    string
	Granted bool
	// Editable is false for the admin group (it keeps every permission)
	// and, for viewers outside the admin group, for permissions they do
	// not hold themselves.
	Editable bool
	Note     string // NoteSaved, NoteFailed or ""
	ErrorKey string // i18n key of why a change failed
}

// RowID is the row's element id: permission codes hold dots, which would
// need escaping in selectors.
func (r PermissionRow) RowID() string {
	return "perm-" + strings.ReplaceAll(r.Code, ".", "-")
}

// InputID is the element id of the row's checkbox.
func (r PermissionRow) InputID() string { return r.RowID() + "-input" }

// GroupMember is one member of a group, linking to the user's page.
type GroupMember struct {
	ID          string
	Email       string
	DisplayName string
	Active      bool
}

// GroupDetail is a group's edit page.
type GroupDetail struct {
	Title       string // the group's stored name (the form may hold another)
	Form        GroupForm
	Permissions []PermissionRow
	AdminGroup  bool   // the admin group: every permission, always
	MatrixError string // i18n key of why the "save all" form was refused
	Members     []GroupMember
}

// PermissionLabel is the translated description of a permission code.
// The message ids follow the code (dots become underscores); a test checks
// that every code has one in each language.
func PermissionLabel(ctx context.Context, code string) string {
	return i18n.T(ctx, PermissionKey(code))
}

// PermissionKey is the message id describing a permission code.
func PermissionKey(code string) string {
	return "admin.permissions." + strings.ReplaceAll(code, ".", "_")
}
