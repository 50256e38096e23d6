// Package apitoken holds the bearer tokens of the JSON API: personal
// tokens made on /account, a service account's tokens made by an admin or
// the command line, and the authentication of an API request.
//
// A token is "vlt_" followed by 32 random bytes in base64url; it is shown
// once and only its SHA-256 (hex) is kept, with its first characters as a
// prefix people can tell tokens apart by. A request is looked up by that
// hash, so no comparison ever runs over the secret itself.
//
// Scopes narrow the owner's permissions and never widen them: the
// principal's viewer holds the permissions the scopes name that the owner
// holds too, read from the database on every request like a session's, so
// taking a right away from a person takes it away from their tokens.
//
// api_tokens is a system-only table (ent privacy denies everyone): every
// workflow here checks who may do what and then reads or writes under
// rule.SystemContext.
package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/privacy"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/apitoken"
	"violet/ent/schema"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/invite"
	"violet/internal/textrule"
)

// Scopes a token may hold.
const (
	ScopeRead    = "read"    // every GET of the API
	ScopeRed     = "red"     // red-team writes: red fields, start/stop, release, execution logs, evidence upload, mission create
	ScopeBlue    = "blue"    // blue-team writes: outcomes, review, evidence upload
	ScopeLibrary = "library" // templates and scenarios: create, import
	ScopeAdmin   = "admin"   // everything the owner may do (implies all the others)
)

// Scopes returns the five scopes, in the order forms and lists show them.
func Scopes() []string {
	return []string{ScopeRead, ScopeRed, ScopeBlue, ScopeLibrary, ScopeAdmin}
}

// Known reports whether scope is one of Scopes.
func Known(scope string) bool { return slices.Contains(Scopes(), scope) }

// ErrUnauthenticated: unknown, malformed, revoked or expired token, or its
// owner is inactive/deleted. Callers must not tell these apart.
var ErrUnauthenticated = errors.New("invalid or expired API token")

// Token shape: the prefix, 32 random bytes in base64url without padding
// (43 characters), and how much of it lists show.
const (
	tokenPrefix = "vlt_"
	tokenLen    = len(tokenPrefix) + 43
	shownLen    = 12
	// touchEvery throttles the last_used_at write: a busy script does not
	// turn every call into a write.
	touchEvery = time.Minute
	// MaxLifetime is the longest a token may stay valid.
	MaxLifetime = 366 * 24 * time.Hour
)

// ExpiryChoices are the lifetimes the forms offer, as Input.ExpiresIn
// takes them.
func ExpiryChoices() []string { return []string{"7d", "30d", "90d", "365d"} }

// Principal is who an API request acts for.
type Principal struct {
	TokenID   uuid.UUID
	TokenName string
	Scopes    []string
	Viewer    *auth.Viewer // the owner, permissions narrowed by the scopes; SessionID = uuid.Nil
}

// Has reports whether the token holds scope, or ScopeAdmin, which implies
// every scope.
func (p *Principal) Has(scope string) bool {
	return p != nil && (slices.Contains(p.Scopes, scope) || slices.Contains(p.Scopes, ScopeAdmin))
}

// scopePermissions is what one scope lets a token keep of its owner's
// permissions (ScopeAdmin keeps them all and is not listed). Red and blue
// keep their side's write permission: mission.Access requires it of a red
// or blue member before it lets them write their side's fields.
func scopePermissions(scope string) []auth.Permission {
	switch scope {
	case ScopeRead:
		return []auth.Permission{auth.MissionRead, auth.MissionReadAll, auth.TemplateRead, auth.AttackRead, auth.InsightsRead}
	case ScopeRed:
		return []auth.Permission{auth.MissionTestRedWrite, auth.EvidenceUpload, auth.MissionCreate}
	case ScopeBlue:
		return []auth.Permission{auth.MissionTestBlueWrite, auth.MissionTestReview, auth.EvidenceUpload}
	case ScopeLibrary:
		return []auth.Permission{auth.TemplateWrite}
	}
	return nil
}

// Narrow returns the owner's permission codes a token with scopes keeps:
// their intersection with what the scopes name, every code for ScopeAdmin.
// It never returns a code the owner does not hold.
func Narrow(owner []string, scopes []string) []string {
	if slices.Contains(scopes, ScopeAdmin) {
		return slices.Clone(owner)
	}
	allowed := map[string]bool{}
	for _, sc := range scopes {
		// Every scope reads: a script writing its side reads the test
		// (and its ETag) first.
		for _, p := range append(scopePermissions(sc), scopePermissions(ScopeRead)...) {
			allowed[string(p)] = true
		}
	}
	out := make([]string, 0, len(owner))
	for _, code := range owner {
		if allowed[code] {
			out = append(out, code)
		}
	}
	return out
}

// Service holds the token workflows.
type Service struct {
	client *ent.Client
	db     *sql.DB
	now    func() time.Time
}

// NewService returns the service; now is the clock (time.Now when nil).
func NewService(client *ent.Client, db *sql.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{client: client, db: db, now: now}
}

// newToken returns a fresh token and its hash.
func newToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails (Go ≥ 1.24)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashOf(token)
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether raw has the shape of a token, so that junk
// costs no query.
func wellFormed(raw string) bool {
	if len(raw) != tokenLen || !strings.HasPrefix(raw, tokenPrefix) {
		return false
	}
	for _, c := range raw[len(tokenPrefix):] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// authQuery loads a live token, its owner (active, not deleted) and the
// owner's groups and permission codes in one round trip, like the
// session's query (internal/auth/session.go).
const authQuery = `
SELECT t.id, t.name, t.scopes, t.last_used_at,
	u.id, u.email, u.display_name, u.locale, u.time_zone,
	COALESCE(array_agg(DISTINCT g.name) FILTER (WHERE g.name IS NOT NULL), '{}'),
	COALESCE(array_agg(DISTINCT p.code) FILTER (WHERE p.code IS NOT NULL), '{}')
FROM api_tokens t
JOIN users u ON u.id = t.user_id AND u.deleted_at IS NULL AND u.is_active
LEFT JOIN user_groups ug ON ug.user_id = u.id
LEFT JOIN groups g ON g.id = ug.group_id AND g.deleted_at IS NULL
LEFT JOIN group_permissions gp ON gp.group_id = g.id
LEFT JOIN permissions p ON p.id = gp.permission_id
WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2
GROUP BY t.id, u.id`

// Authenticate returns the principal of raw (what follows "Bearer "), or
// ErrUnauthenticated. It records the token's use at most once a minute.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if !wellFormed(raw) {
		return nil, ErrUnauthenticated
	}
	now := s.now()
	var (
		p                   Principal
		scopes              []byte
		lastUsed            sql.NullTime
		userID              uuid.UUID
		email, name, locale string
		zone                string
		groups, codes       pq.StringArray
	)
	err := s.db.QueryRowContext(ctx, authQuery, hashOf(raw), now).Scan(
		&p.TokenID, &p.TokenName, &scopes, &lastUsed,
		&userID, &email, &name, &locale, &zone, &groups, &codes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate API token: %w", err)
	}
	var stored []string
	if err := json.Unmarshal(scopes, &stored); err != nil {
		return nil, fmt.Errorf("authenticate API token: scopes: %w", err)
	}
	for _, sc := range stored {
		if Known(sc) && !slices.Contains(p.Scopes, sc) {
			p.Scopes = append(p.Scopes, sc)
		}
	}
	p.Viewer = auth.NewViewer(userID, email, name, locale, uuid.Nil, groups, Narrow(codes, p.Scopes))
	p.Viewer.TimeZone = zone
	if !lastUsed.Valid || now.Sub(lastUsed.Time) >= touchEvery {
		// The condition repeats the check so that concurrent calls write once.
		if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2, updated_at = $2
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`,
			p.TokenID, now, now.Add(-touchEvery)); err != nil {
			return nil, fmt.Errorf("record API token use: %w", err)
		}
	}
	return &p, nil
}

// Input is a token to make.
type Input struct {
	Name      string
	Scopes    []string
	ExpiresIn string // "7d", "30d", "90d", "365d" (any "Nd" up to 366) or a date "2027-01-31" (valid through that day, UTC)
}

// Created is a token just made: Token is shown once and never again.
type Created struct {
	Token string
	Row   *ent.APIToken
}

// Message keys of the validation errors (fields name, scopes, expires).
const (
	KeyNameRequired    = "apitoken.error.name_required"
	KeyNameTooLong     = "apitoken.error.name_too_long"
	KeyNameTaken       = "apitoken.error.name_taken"
	KeyScopesRequired  = "apitoken.error.scopes_required"
	KeyScopesUnknown   = "apitoken.error.scopes_unknown"
	KeyExpiresRequired = "apitoken.error.expires_required"
	KeyExpiresInvalid  = "apitoken.error.expires_invalid"
	KeyExpiresPast     = "apitoken.error.expires_past"
	KeyExpiresTooFar   = "apitoken.error.expires_too_far"
	KeyNotServiceAcct  = "apitoken.error.not_service_account"
)

// cleaned is a valid Input.
type cleaned struct {
	name    string
	scopes  []string
	expires time.Time
}

// check validates in against the clock; the name's uniqueness is checked
// in the transaction.
func check(in Input, now time.Time) (cleaned, *app.Invalid) {
	bad := &app.Invalid{}
	c := cleaned{name: strings.TrimSpace(in.Name)}
	nameRule := textrule.For(schema.APIToken{}, "name")
	switch {
	case c.name == "":
		bad.Add("name", KeyNameRequired)
	case nameRule.Check(c.name) != nil:
		bad.Add("name", KeyNameTooLong)
	}
	for _, sc := range in.Scopes {
		sc = strings.TrimSpace(sc)
		if sc == "" {
			continue
		}
		if !Known(sc) {
			bad.Add("scopes", KeyScopesUnknown)
			break
		}
		if !slices.Contains(c.scopes, sc) {
			c.scopes = append(c.scopes, sc)
		}
	}
	if _, failed := bad.Fields["scopes"]; !failed && len(c.scopes) == 0 {
		bad.Add("scopes", KeyScopesRequired)
	}
	// Keep the order of Scopes, whatever order the form sent.
	slices.SortFunc(c.scopes, func(a, b string) int {
		return slices.Index(Scopes(), a) - slices.Index(Scopes(), b)
	})
	expires, key := ExpiryOf(in.ExpiresIn, now)
	if key != "" {
		bad.Add("expires", key)
	}
	c.expires = expires
	return c, bad
}

// ExpiryOf reads an expiry ("30d" or "2027-01-31") as of now: the moment
// the token stops working, or the message key of what is wrong with it.
func ExpiryOf(s string, now time.Time) (time.Time, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, KeyExpiresRequired
	}
	var at time.Time
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days {
			return time.Time{}, KeyExpiresInvalid
		}
		if n <= 0 {
			return time.Time{}, KeyExpiresPast
		}
		if n > 366 {
			return time.Time{}, KeyExpiresTooFar
		}
		at = now.Add(time.Duration(n) * 24 * time.Hour)
	} else {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, KeyExpiresInvalid
		}
		at = d.AddDate(0, 0, 1) // valid through the day named
	}
	if !at.After(now) {
		return time.Time{}, KeyExpiresPast
	}
	if at.Sub(now) > MaxLifetime {
		return time.Time{}, KeyExpiresTooFar
	}
	return at.UTC(), ""
}

// isSystem reports whether ctx is the system's (the command line, jobs).
func isSystem(ctx context.Context) bool {
	d, ok := privacy.DecisionFromContext(ctx) // Allow comes back as nil
	return ok && d == nil && auth.FromContext(ctx) == nil
}

// Create makes a token for the viewer itself.
func (s *Service) Create(ctx context.Context, in Input) (Created, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return Created{}, app.ErrForbidden
	}
	return s.create(ctx, v.UserID, false, in)
}

// CreateFor makes a token for another user: only a viewer with
// user.manage, and only for a service account (people make their own).
// The system (the command line) may make one for anybody.
func (s *Service) CreateFor(ctx context.Context, userID uuid.UUID, in Input) (Created, error) {
	system := isSystem(ctx)
	if !system && !auth.FromContext(ctx).Can(auth.UserManage) {
		return Created{}, app.ErrForbidden
	}
	return s.create(ctx, userID, !system, in)
}

func (s *Service) create(ctx context.Context, owner uuid.UUID, serviceOnly bool, in Input) (Created, error) {
	now := s.now()
	c, bad := check(in, now)
	sys := rule.SystemContext(ctx)
	var out Created
	err := database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		// The owner's row, locked: two forms sent at once cannot both
		// take one name.
		u, err := tx.User.Query().Where(user.ID(owner), user.DeletedAtIsNil()).ForUpdate().Only(sys)
		if ent.IsNotFound(err) {
			return app.ErrNotFound
		}
		if err != nil {
			return err
		}
		if serviceOnly && !u.ServiceAccount {
			return fmt.Errorf("%w: %s", app.ErrForbidden, KeyNotServiceAcct)
		}
		if serviceOnly {
			// A token of the account is signing in as it: only someone
			// who could grant every one of its groups may make one, as
			// for a password reset (internal/invite).
			groups, err := tx.User.QueryGroups(u).WithPermissions().All(sys)
			if err != nil {
				return err
			}
			if !invite.GrantorOf(auth.FromContext(ctx)).MayGrantAll(groups) {
				return fmt.Errorf("%w: you may not grant every group of this account", app.ErrForbidden)
			}
		}
		if c.name != "" && bad.Fields["name"] == "" {
			taken, err := tx.APIToken.Query().Where(apitoken.UserID(owner), apitoken.Name(c.name),
				apitoken.RevokedAtIsNil(), apitoken.ExpiresAtGT(now)).Exist(sys)
			if err != nil {
				return err
			}
			if taken {
				bad.Add("name", KeyNameTaken)
			}
		}
		if err := bad.Err(); err != nil {
			return err
		}
		token, hash := newToken()
		create := tx.APIToken.Create().SetUserID(owner).SetName(c.name).SetTokenHash(hash).
			SetPrefix(token[:shownLen]).SetScopes(c.scopes).SetExpiresAt(c.expires)
		if v := auth.FromContext(ctx); v != nil {
			create.SetCreatedByID(v.UserID)
		}
		row, err := create.Save(sys)
		if err != nil {
			return fmt.Errorf("create API token: %w", err)
		}
		if err := audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.APITokenCreated, TargetType: "api_token", TargetID: row.ID.String(), TargetLabel: row.Name,
			Details: map[string]any{
				"owner": u.Email, "scopes": c.scopes, "prefix": row.Prefix,
				"expires_at": c.expires.Format(time.RFC3339),
			},
		}); err != nil {
			return err
		}
		out = Created{Token: token, Row: row}
		return nil
	})
	return out, err
}

// mayManage reports whether the context may see and revoke owner's tokens:
// the owner, a viewer with user.manage, or the system.
func mayManage(ctx context.Context, owner uuid.UUID) bool {
	if isSystem(ctx) {
		return true
	}
	v := auth.FromContext(ctx)
	return v != nil && (v.UserID == owner || v.Can(auth.UserManage))
}

// List returns userID's tokens, newest first, revoked and expired ones
// included: the viewer's own, or anyone's with user.manage.
func (s *Service) List(ctx context.Context, userID uuid.UUID) ([]*ent.APIToken, error) {
	if !mayManage(ctx, userID) {
		return nil, app.ErrForbidden
	}
	return s.client.APIToken.Query().Where(apitoken.UserID(userID)).
		Order(ent.Desc(apitoken.FieldCreatedAt), ent.Asc(apitoken.FieldName)).
		All(rule.SystemContext(ctx))
}

// Revoke ends a token at once: the viewer's own, or anyone's with
// user.manage. A token the viewer may not manage is not found; revoking a
// revoked token changes nothing.
func (s *Service) Revoke(ctx context.Context, tokenID uuid.UUID) error {
	return s.revoke(ctx, tokenID, uuid.Nil)
}

// revoke is Revoke of a token of owner only (uuid.Nil: of anyone).
func (s *Service) revoke(ctx context.Context, tokenID, owner uuid.UUID) error {
	sys := rule.SystemContext(ctx)
	return database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		row, err := tx.APIToken.Query().Where(apitoken.ID(tokenID)).WithUser().ForUpdate().Only(sys)
		if ent.IsNotFound(err) || (err == nil && owner != uuid.Nil && row.UserID != owner) {
			return app.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !mayManage(ctx, row.UserID) {
			return app.ErrNotFound
		}
		if row.RevokedAt != nil {
			return nil
		}
		now := s.now()
		if err := tx.APIToken.UpdateOneID(row.ID).SetRevokedAt(now).Exec(sys); err != nil {
			return fmt.Errorf("revoke API token: %w", err)
		}
		owner := ""
		if row.Edges.User != nil {
			owner = row.Edges.User.Email
		}
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.APITokenRevoked, TargetType: "api_token", TargetID: row.ID.String(), TargetLabel: row.Name,
			Details: map[string]any{"owner": owner, "prefix": row.Prefix},
		})
	})
}

// RecordCall writes the audit event of one API request made with p's
// token: the token's name, the method, the route template and the status.
func (s *Service) RecordCall(ctx context.Context, p *Principal, method, route string, status int) error {
	if p == nil {
		return errors.New("record API call: no principal")
	}
	return audit.Record(rule.SystemContext(ctx), s.client.AuditEvent, audit.Event{
		Action: audit.APICall, TargetType: "api_token", TargetID: p.TokenID.String(), TargetLabel: p.TokenName,
		Details: map[string]any{"token": p.TokenName, "method": method, "route": route, "status": status},
		Actor:   p.Viewer,
	})
}

// CreateForEmail is CreateFor of the account with email (a person's or a
// service account's, not deleted): the command line names users by their
// address. It returns the account's stored address with the token.
func (s *Service) CreateForEmail(ctx context.Context, email string, in Input) (Created, string, error) {
	u, err := s.client.User.Query().Where(user.Email(identity.LoginEmail(email)), user.DeletedAtIsNil()).
		Only(rule.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return Created{}, "", fmt.Errorf("%w: no account has the address %q", app.ErrNotFound, email)
	}
	if err != nil {
		return Created{}, "", err
	}
	c, err := s.CreateFor(ctx, u.ID, in)
	return c, u.Email, err
}
