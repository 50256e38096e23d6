// Package joblock tells, across every instance sharing the database,
// whether a background job is still alive: while a job runs, its instance
// holds a session-level PostgreSQL advisory lock keyed on the job on a
// connection of its own. When the instance dies its connection closes and
// PostgreSQL releases the lock, so a job marked running whose lock can be
// taken has nobody left to finish it.
package joblock

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"
)

// Namespaces keep the keys of different kinds of jobs apart (the first
// half of the two-key advisory lock).
const (
	AttackSync int32 = 0x76696f01 // "vio" + 1
	ImportJob  int32 = 0x76696f02 // "vio" + 2
)

// key folds a job id into the second half of the lock key. Two jobs
// sharing a key only delay the reaping of a dead one until the other ends.
func key(id uuid.UUID) int32 {
	h := fnv.New32a()
	_, _ = h.Write(id[:])
	return int32(h.Sum32())
}

// Held is a job's lock, held on its own connection until Release.
type Held struct {
	conn *sql.Conn
	ns   int32
	key  int32
}

// Hold takes the lock of job id in namespace ns on a connection taken
// out of db's pool for as long as the job runs. Take it before the job's
// row is written as running, so that no instance ever sees a running job
// whose lock nobody holds yet.
func Hold(ctx context.Context, db *sql.DB, ns int32, id uuid.UUID) (*Held, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("job lock: %w", err)
	}
	h := &Held{conn: conn, ns: ns, key: key(id)}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, h.ns, h.key); err != nil {
		h.discard()
		return nil, fmt.Errorf("job lock: %w", err)
	}
	return h, nil
}

// Release lets the lock go once the job's end is committed and gives the
// connection back to the pool. Nil is released already.
func (h *Held) Release() {
	if h == nil || h.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, h.ns, h.key); err != nil {
		// A connection that may still hold the lock must not go back to
		// the pool: closing it releases the lock.
		h.discard()
		return
	}
	h.conn.Close()
	h.conn = nil
}

// discard closes the connection itself rather than returning it.
func (h *Held) discard() {
	_ = h.conn.Raw(func(any) error { return driver.ErrBadConn })
	h.conn.Close()
	h.conn = nil
}

// Querier is what Dead needs from a transaction (an *ent.Tx or *sql.Tx).
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Dead reports whether nobody holds the lock of job id: its instance
// ended without finishing it. It runs in a transaction and keeps the lock
// until that transaction ends, so the caller can mark the job failed
// (with a condition on its status: a job that finished just before has
// already committed its end) without another instance doing the same.
func Dead(ctx context.Context, tx Querier, ns int32, id uuid.UUID) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, ns, key(id))
	if err != nil {
		return false, fmt.Errorf("job lock: %w", err)
	}
	defer rows.Close()
	var got bool
	if !rows.Next() {
		return false, fmt.Errorf("job lock: %w", rows.Err())
	}
	if err := rows.Scan(&got); err != nil {
		return false, fmt.Errorf("job lock: %w", err)
	}
	return got, rows.Close()
}
