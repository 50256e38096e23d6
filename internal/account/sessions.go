package account

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/refreshtoken"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/database"
	accountview "violet/views/account"
)

// mySessionsQuery lists a user's live sessions, most recently used first,
// each with the time its chain of rotated tokens began (when the user
// signed in), not the time of its last rotation.
const mySessionsQuery = `
WITH RECURSIVE live AS (
	SELECT id, user_agent, ip, last_seen_at, method FROM refresh_tokens
	WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
), chain(head, id, issued_at) AS (
	SELECT l.id, rt.id, rt.issued_at FROM live l JOIN refresh_tokens rt ON rt.id = l.id
	UNION
	SELECT chain.head, rt.id, rt.issued_at FROM refresh_tokens rt JOIN chain ON rt.replaced_by_id = chain.id
	WHERE rt.user_id = $1
)
SELECT l.id, l.user_agent, l.ip, (SELECT min(c.issued_at) FROM chain c WHERE c.head = l.id), l.last_seen_at, l.method
FROM live l
ORDER BY l.last_seen_at DESC, l.id`

// Sessions returns the viewer's live sessions, current (the request's)
// marked, each with how it was signed in.
func (s *Service) Sessions(ctx context.Context, current uuid.UUID) ([]accountview.Session, error) {
	v := auth.FromContext(ctx)
	rows, err := s.db.QueryContext(ctx, mySessionsQuery, v.UserID, s.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []accountview.Session
	for rows.Next() {
		var (
			r  accountview.Session
			id uuid.UUID
		)
		if err := rows.Scan(&id, &r.UserAgent, &r.IP, &r.SignedInAt, &r.LastSeenAt, &r.Method); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		r.ID, r.Current = id.String(), id == current
		r.Browser, r.OS = accountview.Device(r.UserAgent)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// endOtherSessions ends, in tx, every session of the viewer but keep and
// returns how many were live (expired ones are revoked too, uncounted).
func (s *Service) endOtherSessions(ctx context.Context, tx *ent.Tx, keep uuid.UUID) (int, error) {
	v := auth.FromContext(ctx)
	n, err := tx.RefreshToken.Query().
		Where(refreshtoken.UserID(v.UserID), refreshtoken.IDNEQ(keep),
			refreshtoken.RevokedAtIsNil(), refreshtoken.ExpiresAtGT(s.now())).
		Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	if _, err := s.sessions.RevokeUser(ctx, tx, v.UserID, keep); err != nil {
		return 0, err
	}
	return n, nil
}

// liveTailQuery follows a session's chain of rotated tokens to its live
// end: the page may show a token that was rotated since.
const liveTailQuery = `
WITH RECURSIVE chain(id) AS (
	SELECT $1::uuid
	UNION SELECT rt.replaced_by_id FROM refresh_tokens rt JOIN chain ON rt.id = chain.id
	WHERE rt.replaced_by_id IS NOT NULL
)
SELECT rt.id FROM refresh_tokens rt JOIN chain ON rt.id = chain.id
WHERE rt.revoked_at IS NULL AND rt.expires_at > $2`

// liveTail returns the live token of the session that id began or passed
// through, uuid.Nil when the session has ended.
func (s *Service) liveTail(ctx context.Context, tx *ent.Tx, id uuid.UUID) (uuid.UUID, error) {
	rows, err := tx.QueryContext(ctx, liveTailQuery, id, s.now())
	if err != nil {
		return uuid.Nil, fmt.Errorf("follow session: %w", err)
	}
	defer rows.Close()
	tail := uuid.Nil
	if rows.Next() {
		if err := rows.Scan(&tail); err != nil {
			return uuid.Nil, fmt.Errorf("follow session: %w", err)
		}
	}
	return tail, rows.Err()
}

// Ended is what EndSession did.
type Ended struct {
	Ended   bool // false: the session had already ended
	Current bool // it was the request's own session: the viewer is signed out
}

// EndSession ends one of the viewer's own sessions (the one id began or
// passed through); another user's session is not found. current is the
// request's session.
func (s *Service) EndSession(ctx context.Context, id, current uuid.UUID) (Ended, error) {
	v := auth.FromContext(ctx)
	var e Ended
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		rt, err := tx.RefreshToken.Query().Where(refreshtoken.ID(id), refreshtoken.UserID(v.UserID)).Only(ctx)
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		tail, err := s.liveTail(ctx, tx, rt.ID)
		if err != nil || tail == uuid.Nil {
			return err // already ended: nothing to do
		}
		if err := s.sessions.RevokeWith(ctx, tx, tail); err != nil {
			return err
		}
		e = Ended{Ended: true, Current: tail == current}
		browser, system := accountview.Device(rt.UserAgent)
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.SessionEnded, TargetType: "session", TargetID: tail.String(), TargetLabel: v.Email,
			Details: map[string]any{"current": e.Current, "ip": rt.IP, "browser": browser, "os": system},
		})
	})
	if err != nil {
		return Ended{}, err
	}
	return e, nil
}

// EndOthers ends every session of the viewer except current and returns
// how many it ended.
func (s *Service) EndOthers(ctx context.Context, current uuid.UUID) (int, error) {
	v := auth.FromContext(ctx)
	n := 0
	err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		var err error
		if n, err = s.endOtherSessions(ctx, tx, current); err != nil || n == 0 {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.SessionEnded, TargetType: "user", TargetID: v.UserID.String(), TargetLabel: v.Email,
			Details: map[string]any{"sessions_ended": n, "others": true},
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
