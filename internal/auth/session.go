package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/lib/pq"
)

// Session timing. Tokens are replaced every RotateEvery; the replaced token
// keeps working for RotateGrace so that requests already in flight with it
// do not log the user out. A replaced token presented after that is taken
// for a stolen one and ends the whole chain.
const (
	RotateEvery = 15 * time.Minute
	RotateGrace = time.Minute
	touchEvery  = time.Minute
	// Defaults when the settings table has no value.
	defaultIdle     = 120 * time.Minute
	defaultAbsolute = 12 * time.Hour
)

// Session value keys set by the store.
const (
	// ValueUserID is set by the login handler on a new session: the user
	// to sign in (a uuid.UUID).
	ValueUserID = "user_id"
	valueRecord = "record"
)

// SessionRecord is a valid session as loaded for a request: the
// refresh_tokens row with its user's identity and current permissions.
type SessionRecord struct {
	ID          uuid.UUID
	UserID      uuid.UUID
	Email       string
	DisplayName string
	Locale      string
	TimeZone    string
	Groups      []string
	Permissions []string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	LastSeenAt  time.Time
	// Method is how the session was signed in (refresh_tokens.method:
	// password, password+totp, oidc:<key>…), kept through rotations.
	Method string
	Unread int  // unread notifications, up to UnreadCap
	rotate bool // Save replaces the token
	touch  bool // Save records the activity
}

// Viewer returns the viewer of the session.
func (r *SessionRecord) Viewer() *Viewer {
	v := NewViewer(r.UserID, r.Email, r.DisplayName, r.Locale, r.ID, r.Groups, r.Permissions)
	v.TimeZone = r.TimeZone
	v.Unread = r.Unread
	return v
}

// SessionStore is a gorilla sessions.Store whose sessions are rows of
// refresh_tokens. The cookie carries a random 32-byte token, signed so that
// tampering is noticed without a database query; only its SHA-256 is
// stored. Every request re-reads the row, the user and the user's
// permissions, so logout, password changes and deactivation take effect at
// once.
type SessionStore struct {
	db     *sql.DB
	codec  *securecookie.SecureCookie
	secure bool
	name   string
	now    func() time.Time
}

var _ sessions.Store = (*SessionStore)(nil)

// NewSessionStore returns the store. key signs cookies (SESSION_KEY);
// secure (https BASE_URL) adds the Secure flag and the __Host- prefix.
func NewSessionStore(db *sql.DB, key []byte, secure bool, now func() time.Time) *SessionStore {
	mac := sha256.Sum256(append([]byte("violet session cookie\x00"), key...))
	codec := securecookie.New(mac[:], nil)
	codec.MaxAge(0) // expiry is the database's business
	name := "violet_session"
	if secure {
		name = "__Host-violet_session"
	}
	if now == nil {
		now = time.Now
	}
	return &SessionStore{db: db, codec: codec, secure: secure, name: name, now: now}
}

// Name is the session cookie's name.
func (s *SessionStore) Name() string { return s.name }

func (s *SessionStore) options() *sessions.Options {
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
}

// Get implements sessions.Store. It does not cache per request: callers
// load the session once, in the middleware.
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

// New implements sessions.Store: the session of the request's cookie when
// it is valid, else a new empty one. A missing, tampered, expired or revoked
// cookie gives an anonymous session, never an error; a database failure is
// an error.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options()
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var token string
	if err := s.codec.Decode(name, c.Value, &token); err != nil {
		return sess, nil
	}
	rec, err := s.load(r.Context(), hashToken(token))
	if err != nil || rec == nil {
		return sess, err
	}
	sess.ID = rec.ID.String()
	sess.IsNew = false
	sess.Values[valueRecord] = rec
	return sess, nil
}

// Record returns the valid session record of sess, or nil.
func Record(sess *sessions.Session) *SessionRecord {
	rec, _ := sess.Values[valueRecord].(*SessionRecord)
	return rec
}

// Save implements sessions.Store:
//   - Options.MaxAge < 0 ends the session (logout) and clears the cookie;
//   - a session without a record but with ValueUserID set is a login: a new
//     token, never the one the browser had (no fixation);
//   - a loaded session is rotated or its activity recorded when due.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	rec := Record(sess)
	switch {
	case sess.Options != nil && sess.Options.MaxAge < 0:
		if rec != nil {
			if err := s.RevokeWith(ctx, s.db, rec.ID); err != nil {
				return err
			}
		}
		s.ClearCookie(w)
		return nil
	case rec == nil:
		userID, ok := sess.Values[ValueUserID].(uuid.UUID)
		if !ok {
			return nil
		}
		token, rec, err := s.Create(ctx, s.db, userID, MethodPassword)
		if err != nil {
			return err
		}
		sess.ID, sess.IsNew = rec.ID.String(), false
		sess.Values[valueRecord] = rec
		s.SetCookie(w, token, rec.ExpiresAt)
		return nil
	case rec.rotate:
		token, next, err := s.rotate(ctx, rec)
		if err != nil || next == nil {
			return err // a concurrent request rotated it first: keep the old token
		}
		sess.ID = next.ID.String()
		sess.Values[valueRecord] = next
		s.SetCookie(w, token, next.ExpiresAt)
		return nil
	case rec.touch:
		_, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET last_seen_at = $2, updated_at = $2 WHERE id = $1`, rec.ID, s.now())
		if err != nil {
			return fmt.Errorf("record session activity: %w", err)
		}
		rec.touch = false
	}
	return nil
}

func (s *SessionStore) cookieFor(token string, expires time.Time) *http.Cookie {
	encoded, err := s.codec.Encode(s.name, token)
	if err != nil {
		// Encoding a string with a valid key cannot fail.
		panic(err)
	}
	maxAge := int(expires.Sub(s.now()).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	return s.cookie(encoded, maxAge)
}

func (s *SessionStore) cookie(value string, maxAge int) *http.Cookie {
	opts := s.options()
	opts.MaxAge = maxAge
	return sessions.NewCookie(s.name, value, opts)
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// UnreadCap bounds the unread notifications a request counts: the bell
// shows "99+" beyond it, and the count stays cheap however many pile up.
const UnreadCap = 100

// sessionQuery loads a token's row, its user (active, not deleted) and the
// user's groups and permissions, with the idle timeout setting and the
// user's unread notifications (the bell on every page), in one round trip.
const sessionQuery = `
SELECT rt.id, rt.user_id, rt.issued_at, rt.expires_at, rt.last_seen_at, rt.revoked_at, rt.replaced_by_id, rt.method,
	u.email, u.display_name, u.locale, u.time_zone,
	COALESCE((SELECT (value #>> '{}')::int FROM settings WHERE key = 'session.idle_timeout_minutes'), 0),
	COALESCE(array_agg(DISTINCT g.name) FILTER (WHERE g.name IS NOT NULL), '{}'),
	COALESCE(array_agg(DISTINCT p.code) FILTER (WHERE p.code IS NOT NULL), '{}'),
	(SELECT count(*) FROM (SELECT 1 FROM notifications n WHERE n.user_id = u.id AND n.read_at IS NULL LIMIT 100) unread) -- LIMIT UnreadCap
FROM refresh_tokens rt
JOIN users u ON u.id = rt.user_id AND u.deleted_at IS NULL AND u.is_active
LEFT JOIN user_groups ug ON ug.user_id = u.id
LEFT JOIN groups g ON g.id = ug.group_id AND g.deleted_at IS NULL
LEFT JOIN group_permissions gp ON gp.group_id = g.id
LEFT JOIN permissions p ON p.id = gp.permission_id
WHERE %s
GROUP BY rt.id, u.id`

type row struct {
	rec       SessionRecord
	revokedAt sql.NullTime
	replaced  uuid.NullUUID
	idle      time.Duration
}

func (s *SessionStore) query(ctx context.Context, q DBTX, where string, arg any) (*row, error) {
	var (
		r       row
		idleMin int
		groups  pq.StringArray
		perms   pq.StringArray
	)
	rows, err := q.QueryContext(ctx, fmt.Sprintf(sessionQuery, where), arg)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	if err := rows.Scan(
		&r.rec.ID, &r.rec.UserID, &r.rec.IssuedAt, &r.rec.ExpiresAt, &r.rec.LastSeenAt, &r.revokedAt, &r.replaced, &r.rec.Method,
		&r.rec.Email, &r.rec.DisplayName, &r.rec.Locale, &r.rec.TimeZone, &idleMin, &groups, &perms, &r.rec.Unread); err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	r.rec.Groups, r.rec.Permissions = groups, perms
	r.idle = time.Duration(idleMin) * time.Minute
	if r.idle <= 0 {
		r.idle = defaultIdle
	}
	return &r, nil
}

// load returns the valid session of a token hash, or nil.
func (s *SessionStore) load(ctx context.Context, tokenHash string) (*SessionRecord, error) {
	r, err := s.query(ctx, s.db, "rt.token_hash = $1", tokenHash)
	if err != nil || r == nil {
		return nil, err
	}
	now := s.now()
	if r.revokedAt.Valid {
		if !r.replaced.Valid {
			return nil, nil // logged out or ended
		}
		if now.Sub(r.revokedAt.Time) > RotateGrace {
			// A token replaced long ago is back: someone kept a copy.
			// End the whole chain rather than guess who is who.
			return nil, s.RevokeWith(ctx, s.db, r.replaced.UUID)
		}
		return s.follow(ctx, r.replaced.UUID)
	}
	return s.check(r), nil
}

// follow returns the live successor of a token rotated a moment ago.
func (s *SessionStore) follow(ctx context.Context, id uuid.UUID) (*SessionRecord, error) {
	for range 5 {
		r, err := s.query(ctx, s.db, "rt.id = $1", id)
		if err != nil || r == nil {
			return nil, err
		}
		if !r.revokedAt.Valid {
			rec := s.check(r)
			if rec != nil {
				rec.rotate, rec.touch = false, false
			}
			return rec, nil
		}
		if !r.replaced.Valid {
			return nil, nil
		}
		id = r.replaced.UUID
	}
	return nil, nil
}

// check applies the absolute and idle timeouts and decides whether the
// token is due for rotation or its activity for recording.
func (s *SessionStore) check(r *row) *SessionRecord {
	now := s.now()
	if !now.Before(r.rec.ExpiresAt) || now.Sub(r.rec.LastSeenAt) > r.idle {
		return nil
	}
	rec := r.rec
	rec.rotate = now.Sub(rec.IssuedAt) >= RotateEvery
	rec.touch = now.Sub(rec.LastSeenAt) >= touchEvery
	return &rec
}

// MethodPassword is the sign-in method of a session opened by a password
// alone (or by accepting an invitation, which sets one).
const MethodPassword = "password"

// Create starts a new session for userID through q (the transaction of
// the login, so that its audit event commits with it) and returns the
// token to put in the cookie with SetCookie.
func (s *SessionStore) Create(ctx context.Context, q DBTX, userID uuid.UUID, method string) (string, *SessionRecord, error) {
	now := s.now()
	info := RequestInfoFrom(ctx)
	token := newToken()
	id := uuid.New()
	_, err := q.ExecContext(ctx, `INSERT INTO refresh_tokens
		(id, jti, token_hash, user_id, issued_at, expires_at, last_seen_at, user_agent, ip, method, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $8, $9, $5, $5)`,
		id, uuid.New(), hashToken(token), userID, now, now.Add(s.absolute(ctx, q)),
		truncate(info.UserAgent, 512), truncate(info.IP, 64), method)
	if err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	r, err := s.query(ctx, q, "rt.id = $1", id)
	if err != nil {
		return "", nil, err
	}
	if r == nil {
		return "", nil, errors.New("create session: the user cannot sign in")
	}
	return token, &r.rec, nil
}

// SetCookie sends the session cookie for token.
func (s *SessionStore) SetCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, s.cookieFor(token, expires))
}

// ClearCookie removes the session cookie from the browser.
func (s *SessionStore) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie("", -1))
}

// rotate replaces rec's token by a new one in one transaction. It returns a
// nil record when another request rotated it first.
func (s *SessionStore) rotate(ctx context.Context, rec *SessionRecord) (string, *SessionRecord, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", nil, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	now := s.now()
	info := RequestInfoFrom(ctx)
	token := newToken()
	id := uuid.New()
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens
		(id, jti, token_hash, user_id, issued_at, expires_at, last_seen_at, user_agent, ip, method, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $8, $9, $5, $5)`,
		id, uuid.New(), hashToken(token), rec.UserID, now, rec.ExpiresAt, truncate(info.UserAgent, 512), truncate(info.IP, 64), rec.Method); err != nil {
		return "", nil, fmt.Errorf("rotate session: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2, replaced_by_id = $3, updated_at = $2
		WHERE id = $1 AND revoked_at IS NULL`, rec.ID, now, id)
	if err != nil {
		return "", nil, fmt.Errorf("rotate session: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", nil, nil
	}
	if err := tx.Commit(); err != nil {
		return "", nil, fmt.Errorf("rotate session: %w", err)
	}
	next := *rec
	next.ID, next.IssuedAt, next.LastSeenAt, next.rotate, next.touch = id, now, now, false, false
	return token, &next, nil
}

// absolute reads the absolute session lifetime from the settings.
func (s *SessionStore) absolute(ctx context.Context, q DBTX) time.Duration {
	rows, err := q.QueryContext(ctx, `SELECT (value #>> '{}')::int FROM settings WHERE key = 'session.absolute_timeout_hours'`)
	if err != nil {
		return defaultAbsolute
	}
	defer rows.Close()
	var hours int
	if !rows.Next() || rows.Scan(&hours) != nil || hours <= 0 {
		return defaultAbsolute
	}
	return time.Duration(hours) * time.Hour
}

// RevokeWith ends a session, and every token it was rotated into, through
// q (the transaction that records why).
func (s *SessionStore) RevokeWith(ctx context.Context, q DBTX, id uuid.UUID) error {
	_, err := q.ExecContext(ctx, `
		WITH RECURSIVE chain(id) AS (
			SELECT $1::uuid
			UNION SELECT rt.replaced_by_id FROM refresh_tokens rt JOIN chain ON rt.id = chain.id
			WHERE rt.replaced_by_id IS NOT NULL
		)
		UPDATE refresh_tokens SET revoked_at = $2, updated_at = $2
		WHERE id IN (SELECT id FROM chain) AND revoked_at IS NULL`, id, s.now())
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUser ends every session of a user, except keep (uuid.Nil for
// none): password changes keep the current one, deactivation keeps none.
func (s *SessionStore) RevokeUser(ctx context.Context, q DBTX, userID, keep uuid.UUID) (int64, error) {
	res, err := q.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $3, updated_at = $3
		WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, userID, keep, s.now())
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return res.RowsAffected()
}

// DBTX runs statements: a *sql.DB, or an ent transaction (*ent.Tx) so that
// a session change commits with the change that causes it and its audit
// event.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
