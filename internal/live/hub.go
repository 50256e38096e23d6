package live

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// Buffer is how many events a subscriber may have waiting. A client that
// falls this far behind is dropped rather than allowed to hold the others
// up; it reconnects with Last-Event-ID and catches up from the table.
const Buffer = 64

// Retention is how long events stay replayable.
const Retention = 24 * time.Hour

// fetchBatch bounds one read of new events.
const fetchBatch = 500

// handshakeTimeout bounds connecting the listening connection, start-up
// handshake included.
const handshakeTimeout = 5 * time.Second

// handshakeDialer gives each connection of the listener a deadline for its
// start-up: lib/pq has none for the handshake and holds the listener's
// lock meanwhile, so a database that accepts connections and never
// answers would hold the listener (and its Close) for ever. The listener's
// connected event lifts the deadline: the connection then waits for
// notifications as long as it lives.
type handshakeDialer struct {
	timeout time.Duration
	mu      sync.Mutex
	last    net.Conn
}

// Dial implements pq.Dialer.
func (d *handshakeDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialTimeout(network, addr, d.timeout)
}

// DialTimeout implements pq.Dialer.
func (d *handshakeDialer) DialTimeout(network, addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > d.timeout {
		timeout = d.timeout
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(d.timeout))
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return c, nil
}

// connected lifts the deadline of the connection just made.
func (d *handshakeDialer) connected() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil {
		_ = d.last.SetDeadline(time.Time{})
		d.last = nil
	}
}

// Sub is one subscriber: an open stream of one user, on one mission or
// none. C is closed when the hub drops the subscriber (too slow) or stops.
type Sub struct {
	UserID    uuid.UUID
	MissionID uuid.UUID
	C         <-chan *Event
	c         chan *Event
	dropped   atomic.Bool
}

// Dropped reports whether the hub dropped the subscriber for being slow.
func (s *Sub) Dropped() bool { return s.dropped.Load() }

// wants reports whether the event is for this subscriber. Permissions are
// the stream's business: the hub only routes.
func (s *Sub) wants(e *Event) bool {
	if e.Kind == KindNotification {
		return e.UserID == s.UserID
	}
	return s.MissionID != uuid.Nil && e.MissionID == s.MissionID
}

// Hub listens to the feed on one database connection of its own and fans
// the events out to this instance's subscribers.
type Hub struct {
	db   *sql.DB
	dsn  string
	log  *slog.Logger
	last atomic.Int64 // the newest event handed out

	mu      sync.Mutex
	subs    map[*Sub]struct{}
	stopped bool
	started chan struct{}
}

// NewHub returns a hub reading events through db; dsn opens its listening
// connection.
func NewHub(db *sql.DB, dsn string, log *slog.Logger) *Hub {
	return &Hub{db: db, dsn: dsn, log: log, subs: map[*Sub]struct{}{}, started: make(chan struct{})}
}

// Last returns the id of the newest event the hub has handed out. A page
// rendered after reading it can ask its stream for every event after it,
// and so misses nothing that happened while it loaded.
func (h *Hub) Last() int64 { return h.last.Load() }

// Started is closed once the hub listens (tests wait for it).
func (h *Hub) Started() <-chan struct{} { return h.started }

// Subscribe registers a stream. Call Unsubscribe when it ends.
func (h *Hub) Subscribe(userID, missionID uuid.UUID) *Sub {
	c := make(chan *Event, Buffer)
	s := &Sub{UserID: userID, MissionID: missionID, C: c, c: c}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		close(c)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// Unsubscribe removes a stream; its channel is closed.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.c)
	}
}

// Subscribers counts the open streams (metrics, tests).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Run listens until ctx ends, then closes every subscriber. It returns an
// error only when it cannot start.
func (h *Hub) Run(ctx context.Context) error {
	dialer := &handshakeDialer{timeout: handshakeTimeout}
	l := pq.NewDialListener(dialer, h.dsn, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		if ev == pq.ListenerEventConnected || ev == pq.ListenerEventReconnected {
			dialer.connected()
		}
		if err != nil {
			h.log.Warn("live events: listener", "event", ev, "err", err)
		}
	})
	// Closing waits for a connection attempt under way (up to the
	// handshake timeout): let it finish on its own rather than hold up a
	// shutdown.
	defer func() { go l.Close() }()
	defer h.stop()
	// Listen waits for a connection (the database may be down at start);
	// closing the listener on the way out ends the wait.
	listening := make(chan error, 1)
	go func() { listening <- l.Listen(Channel) }()
	select {
	case err := <-listening:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return nil
	}
	// Only events committed after LISTEN wake us; start from the newest
	// one committed before.
	for {
		last, err := h.newest(ctx)
		if err == nil {
			h.last.Store(last)
			break
		}
		h.log.Warn("live events: start", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	close(h.started)

	ping := time.NewTicker(60 * time.Second)
	defer ping.Stop()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.NotificationChannel():
			// A notification, or nil after a reconnect (some may be lost):
			// either way, read everything after the last event.
			drain(l.NotificationChannel())
		case <-retry:
		case <-ping.C:
			go l.Ping() //nolint:errcheck // a dead connection is noticed and redialled by the listener
			continue
		case <-prune.C:
			h.prune(ctx)
			continue
		}
		retry = nil
		if err := h.fetch(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("live events: read", "err", err)
			retry = time.After(time.Second)
		}
	}
}

// newest returns the id of the newest event; 0 before the table exists
// (a database being migrated).
func (h *Hub) newest(ctx context.Context) (int64, error) {
	var last int64
	err := h.db.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM live_events`).Scan(&last)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return last, err
}

// drain takes the notifications already queued: one read covers them.
func drain(c <-chan *pq.Notification) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// fetch reads the events after the last one and hands them out.
func (h *Hub) fetch(ctx context.Context) error {
	for {
		events, err := h.read(ctx, `id > $1`, h.last.Load())
		if err != nil {
			return err
		}
		for _, e := range events {
			h.dispatch(e)
			h.last.Store(e.ID)
		}
		if len(events) < fetchBatch {
			return nil
		}
	}
}

// dispatch hands an event to the subscribers that want it; one whose
// buffer is full is dropped.
func (h *Hub) dispatch(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.wants(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.dropped.Store(true)
			delete(h.subs, s)
			close(s.c)
		}
	}
}

func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.c)
	}
}

func (h *Hub) prune(ctx context.Context) {
	if _, err := h.db.ExecContext(ctx, `DELETE FROM live_events WHERE created_at < $1`, time.Now().Add(-Retention)); err != nil {
		h.log.Warn("live events: prune", "err", err)
	}
}

// ErrTooOld means the events after the given id are no longer all kept:
// the client should reload rather than replay.
var ErrTooOld = errors.New("live events: too old to replay")

// Since returns the events after id for a stream of userID on missionID
// (uuid.Nil for none), oldest first, for a client that reconnects. It
// returns ErrTooOld when some of them were pruned or there are too many.
func (h *Hub) Since(ctx context.Context, id int64, userID, missionID uuid.UUID) ([]*Event, error) {
	if id > 0 {
		// Every id a client holds named a real row; once that row is
		// pruned, so may be the ones after it.
		var kept bool
		if err := h.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM live_events WHERE id = $1)`, id).Scan(&kept); err != nil {
			return nil, err
		}
		if !kept {
			return nil, ErrTooOld
		}
	}
	events, err := h.read(ctx, `id > $1 AND ((kind = 'notification' AND user_id = $2) OR (kind <> 'notification' AND mission_id = $3))`,
		id, userID, nullable(missionID))
	if err != nil {
		return nil, err
	}
	if len(events) == fetchBatch {
		return nil, ErrTooOld
	}
	return events, nil
}

func (h *Hub) read(ctx context.Context, where string, args ...any) ([]*Event, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT id, created_at, kind, mission_id, test_id, user_id, actor_id, released
		FROM live_events WHERE `+where+` ORDER BY id LIMIT `+strconv.Itoa(fetchBatch), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		var (
			e                              Event
			kind                           string
			mission, test, user, actorUUID uuid.NullUUID
		)
		if err := rows.Scan(&e.ID, &e.At, &kind, &mission, &test, &user, &actorUUID, &e.Released); err != nil {
			return nil, err
		}
		e.Kind, e.MissionID, e.TestID, e.UserID, e.ActorID = Kind(kind), mission.UUID, test.UUID, user.UUID, actorUUID.UUID
		out = append(out, &e)
	}
	return out, rows.Err()
}
