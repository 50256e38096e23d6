// Package live carries changes to the pages people have open. A change is
// written as a row of live_events in the transaction that makes it, and a
// NOTIFY on the same transaction wakes every Violet instance listening on
// the database once it commits. Each instance's Hub reads the new rows and
// hands them to the subscribers (one per open Server-Sent Events stream)
// that asked for that mission or that user. The rows make the feed
// replayable: a client that reconnects says the last id it saw and gets
// what it missed, whichever instance it reaches.
package live

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// Channel is the PostgreSQL notification channel of the feed.
const Channel = "violet_live"

// publishLock is the advisory lock taken by every transaction that
// publishes, just before its insert: the next publisher waits until this
// one has committed, so ids are handed out in commit order and "every
// event after id N" never skips a late commit.
const publishLock = 0x76696f6c65740001

// Kind is what changed.
type Kind string

// The kinds of events.
const (
	// KindTest: one mission test changed (its row, the mission's figures).
	KindTest Kind = "test"
	// KindPlan: tests were added, removed, reordered or recategorised.
	KindPlan Kind = "plan"
	// KindMission: the mission itself changed (status, details).
	KindMission Kind = "mission"
	// KindMembers: someone joined, left or changed role.
	KindMembers Kind = "members"
	// KindNotification: a user got a notification (the bell).
	KindNotification Kind = "notification"
)

// Event is one change. Zero UUIDs mean "none".
type Event struct {
	ID        int64
	At        time.Time
	Kind      Kind
	MissionID uuid.UUID
	TestID    uuid.UUID
	UserID    uuid.UUID // the recipient of a notification
	ActorID   uuid.UUID // who made the change
	Released  bool      // a test event: the test is released to blue after the change
}

// Execer runs statements in the publishing transaction (*ent.Tx, or the
// client of one, or *sql.Tx).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Publish records events in the caller's transaction; they reach the
// listeners when it commits, and never if it rolls back. Call it last in
// the transaction: from here to the commit, other publishers wait.
func Publish(ctx context.Context, tx Execer, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := lock(ctx, tx); err != nil {
		return err
	}
	var (
		b    strings.Builder
		args []any
	)
	b.WriteString(`INSERT INTO live_events (kind, mission_id, test_id, user_id, actor_id, released) VALUES `)
	for i, e := range events {
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, string(e.Kind), nullable(e.MissionID), nullable(e.TestID), nullable(e.UserID),
			nullable(e.ActorID), e.Released)
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("publish live events: %w", err)
	}
	return notify(ctx, tx)
}

// PublishTest records a change of one mission test, with whether the test
// is released to blue as the transaction leaves it (blue viewers only get
// events of released tests).
func PublishTest(ctx context.Context, tx Execer, testID, actorID uuid.UUID) error {
	if err := lock(ctx, tx); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO live_events (kind, mission_id, test_id, actor_id, released)
		SELECT 'test', mission_id, id, $2, released_to_blue FROM mission_tests WHERE id = $1`, testID, nullable(actorID))
	if err != nil {
		return fmt.Errorf("publish live events: %w", err)
	}
	return notify(ctx, tx)
}

// PublishTests records a change of each of the tests testIDs in one
// statement (a bulk action), as PublishTest does for one.
func PublishTests(ctx context.Context, tx Execer, testIDs []uuid.UUID, actorID uuid.UUID) error {
	if len(testIDs) == 0 {
		return nil
	}
	if err := lock(ctx, tx); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO live_events (kind, mission_id, test_id, actor_id, released)
		SELECT 'test', mission_id, id, $2, released_to_blue FROM mission_tests WHERE id = ANY($1) ORDER BY position`,
		pq.Array(testIDs), nullable(actorID))
	if err != nil {
		return fmt.Errorf("publish live events: %w", err)
	}
	return notify(ctx, tx)
}

func lock(ctx context.Context, tx Execer) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(publishLock)); err != nil {
		return fmt.Errorf("publish live events: %w", err)
	}
	return nil
}

// notify wakes the listeners at commit. The payload is empty: a hub reads
// every row after the last one it saw, so one wake-up is as good as many
// (PostgreSQL folds identical notifications of a transaction into one).
func notify(ctx context.Context, tx Execer) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil {
		return fmt.Errorf("publish live events: %w", err)
	}
	return nil
}

func nullable(id uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: id, Valid: id != uuid.Nil} }
