package auth

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Throttle limits failed logins per email and per client address by
// counting the login.failed and login.second_factor_failed events of the
// audit log (a wrong code counts as a wrong password would): the count is shared by
// every instance on the database, needs no state of its own, and a window
// that slides means no permanent lockout.
type Throttle struct {
	db       *sql.DB
	window   time.Duration
	perEmail int
	perIP    int
	now      func() time.Time
}

// NewThrottle allows perEmail failures per email and perIP failures per
// address within window.
func NewThrottle(db *sql.DB, window time.Duration, perEmail, perIP int, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{db: db, window: window, perEmail: perEmail, perIP: perIP, now: now}
}

// DefaultThrottle allows 10 failures per email and 50 per address in 15
// minutes.
func DefaultThrottle(db *sql.DB, now func() time.Time) *Throttle {
	return NewThrottle(db, 15*time.Minute, 10, 50, now)
}

// RetryAfter returns how long a login for email from ip must wait, zero
// when it may go ahead.
func (t *Throttle) RetryAfter(ctx context.Context, email, ip string) (time.Duration, error) {
	return t.RetryAfterWith(ctx, t.db, email, ip)
}

// Querier runs a query: the pool, or a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// RetryAfterWith is RetryAfter read through q: a workflow that holds a
// lock in a transaction reads the failures there, without waiting for a
// second connection of the pool while it holds the lock.
func (t *Throttle) RetryAfterWith(ctx context.Context, q Querier, email, ip string) (time.Duration, error) {
	wait, err := t.wait(ctx, q, "target_label", email, t.perEmail)
	if err != nil || wait > 0 || ip == "" {
		return wait, err
	}
	return t.wait(ctx, q, "ip", ip, t.perIP)
}

// RetryAfterIPWith is RetryAfterWith for a sign-in that names no email
// (a passkey, whose owner is known only once it is verified): only the
// address's failures count.
func (t *Throttle) RetryAfterIPWith(ctx context.Context, q Querier, ip string) (time.Duration, error) {
	if ip == "" {
		return 0, nil
	}
	return t.wait(ctx, q, "ip", ip, t.perIP)
}

// wait looks at the limit-th most recent failure for value: while it is
// inside the window the limit is reached, until it leaves the window.
func (t *Throttle) wait(ctx context.Context, q Querier, column, value string, limit int) (time.Duration, error) {
	now := t.now()
	var oldest sql.NullTime
	// Each action is read apart, so that password failures keep using
	// their partial indexes (ix_audit_events_login_failed_*).
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT min(created_at) FROM (
		SELECT created_at FROM (
			(SELECT created_at FROM audit_events
			WHERE action = 'login.failed' AND %[1]s = $1 AND created_at > $2
			ORDER BY created_at DESC LIMIT $3)
			UNION ALL
			(SELECT created_at FROM audit_events
			WHERE action = 'login.second_factor_failed' AND %[1]s = $1 AND created_at > $2
			ORDER BY created_at DESC LIMIT $3)
		) both_kinds ORDER BY created_at DESC LIMIT $3) recent
		HAVING count(*) >= $3`, column), value, now.Add(-t.window), limit)
	if err == nil {
		err = scanFirst(rows, &oldest)
	}
	if err == sql.ErrNoRows || (err == nil && !oldest.Valid) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("login throttle: %w", err)
	}
	wait := oldest.Time.Add(t.window).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return wait, nil
}

// scanFirst scans the first row of rows into dst (sql.ErrNoRows without
// one) and closes them.
func scanFirst(rows *sql.Rows, dst any) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dst); err != nil {
		return err
	}
	return rows.Err()
}
