package live_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/live"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// startHub runs a hub (one "instance") on the database until the test ends.
func startHub(t *testing.T, db *sql.DB, dbURL string) *live.Hub {
	t.Helper()
	h := live.NewHub(db, dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	select {
	case <-h.Started():
	case err := <-done:
		t.Fatalf("hub stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hub did not start")
	}
	return h
}

// publish commits events in a transaction of their own.
func publish(t testing.TB, db *sql.DB, events ...live.Event) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Publish(context.Background(), tx, events...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// next waits for the subscriber's next event.
func next(t *testing.T, s *live.Sub, within time.Duration) *live.Event {
	t.Helper()
	select {
	case e, ok := <-s.C:
		if !ok {
			t.Fatal("subscriber closed")
		}
		return e
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return nil
}

// none checks that nothing arrives for a while.
func none(t *testing.T, s *live.Sub, wait time.Duration) {
	t.Helper()
	select {
	case e := <-s.C:
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(wait):
	}
}

func TestEventsReachEveryInstanceAfterCommit(t *testing.T) {
	db, _, u := testdb.Open(t)
	a := startHub(t, db, u)
	// A second instance: its own pool and hub on the same database.
	db2 := openSame(t, u)
	b := startHub(t, db2, u)

	user, mission, other := uuid.New(), uuid.New(), uuid.New()
	subA := a.Subscribe(user, mission)
	subB := b.Subscribe(user, mission)
	elsewhere := b.Subscribe(uuid.New(), other)

	// Nothing is delivered before the commit, and nothing at all on a
	// rollback.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Publish(context.Background(), tx, live.Event{Kind: live.KindPlan, MissionID: mission}); err != nil {
		t.Fatal(err)
	}
	none(t, subA, 200*time.Millisecond)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	none(t, subB, 200*time.Millisecond)

	start := time.Now()
	publish(t, db2, live.Event{Kind: live.KindMission, MissionID: mission},
		live.Event{Kind: live.KindNotification, UserID: user})
	for _, s := range []*live.Sub{subA, subB} {
		e1, e2 := next(t, s, time.Second), next(t, s, time.Second)
		if e1.Kind != live.KindMission || e1.MissionID != mission || e2.Kind != live.KindNotification || e2.UserID != user {
			t.Errorf("got %+v then %+v", e1, e2)
		}
		if e2.ID <= e1.ID {
			t.Errorf("ids out of order: %d then %d", e1.ID, e2.ID)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("delivery took %v", d)
	}
	// Another mission's subscriber and another user get nothing.
	none(t, elsewhere, 200*time.Millisecond)
	if a.Last() != b.Last() || a.Last() == 0 {
		t.Errorf("last ids: %d and %d", a.Last(), b.Last())
	}
}

func TestSinceReplaysWhatWasMissed(t *testing.T) {
	db, _, u := testdb.Open(t)
	h := startHub(t, db, u)
	user, mission := uuid.New(), uuid.New()
	sub := h.Subscribe(user, mission)
	publish(t, db, live.Event{Kind: live.KindPlan, MissionID: mission})
	first := next(t, sub, time.Second)
	publish(t, db, live.Event{Kind: live.KindMission, MissionID: mission})
	publish(t, db, live.Event{Kind: live.KindMission, MissionID: uuid.New()}) // not ours
	publish(t, db, live.Event{Kind: live.KindNotification, UserID: user})
	publish(t, db, live.Event{Kind: live.KindNotification, UserID: uuid.New()}) // not ours

	got, err := h.Since(context.Background(), first.ID, user, mission)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != live.KindMission || got[1].Kind != live.KindNotification {
		t.Fatalf("replayed %d events: %+v", len(got), got)
	}
	// Without a mission only the user's notifications come back.
	got, err = h.Since(context.Background(), 0, user, uuid.Nil)
	if err != nil || len(got) != 1 || got[0].Kind != live.KindNotification {
		t.Fatalf("replay without mission: %v %+v", err, got)
	}
	// An id that was pruned (or never existed) asks for a reload.
	if _, err := db.Exec(`DELETE FROM live_events WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Since(context.Background(), first.ID, user, mission); err != live.ErrTooOld {
		t.Fatalf("pruned id: %v, want ErrTooOld", err)
	}
}

func TestSlowSubscriberIsDroppedWithoutHoldingOthers(t *testing.T) {
	db, _, u := testdb.Open(t)
	h := startHub(t, db, u)
	mission := uuid.New()
	slow := h.Subscribe(uuid.New(), mission) // never reads
	fast := h.Subscribe(uuid.New(), mission)
	var got []int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := range fast.C {
			got = append(got, e.ID)
			if len(got) == live.Buffer+10 {
				return
			}
		}
	}()
	// One change at a time, as people make them: the reading subscriber
	// keeps up, the other's buffer fills.
	for range live.Buffer + 10 {
		publish(t, db, live.Event{Kind: live.KindPlan, MissionID: mission})
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if len(got) != live.Buffer+10 {
		t.Fatalf("the reading subscriber got %d events, want %d", len(got), live.Buffer+10)
	}
	// The one that did not read was dropped: its channel holds what fit
	// and is closed.
	n := 0
	for range slow.C {
		n++
	}
	if !slow.Dropped() || n != live.Buffer {
		t.Errorf("slow subscriber: dropped %v after %d events", slow.Dropped(), n)
	}
	if c := h.Subscribers(); c != 1 {
		t.Errorf("%d subscribers left, want 1", c)
	}
}

func TestIdsFollowCommitOrder(t *testing.T) {
	// Two transactions publish; the first to insert commits last. The
	// second must wait (advisory lock), so its id is the larger one and a
	// reader resuming after the first event never skips the second.
	db, _, u := testdb.Open(t)
	h := startHub(t, db, u)
	mission := uuid.New()
	sub := h.Subscribe(uuid.New(), mission)
	ctx := context.Background()
	tx1, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Publish(ctx, tx1, live.Event{Kind: live.KindPlan, MissionID: mission}); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		tx2, err := db.BeginTx(ctx, nil)
		if err == nil {
			err = live.Publish(ctx, tx2, live.Event{Kind: live.KindMission, MissionID: mission})
		}
		if err == nil {
			err = tx2.Commit()
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("the second publisher did not wait for the first: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	e1, e2 := next(t, sub, time.Second), next(t, sub, time.Second)
	if e1.Kind != live.KindPlan || e2.Kind != live.KindMission || e2.ID <= e1.ID {
		t.Errorf("got %s #%d then %s #%d", e1.Kind, e1.ID, e2.Kind, e2.ID)
	}
}

func TestManySubscribersGetEveryEvent(t *testing.T) {
	db, _, u := testdb.Open(t)
	h := startHub(t, db, u)
	const clients, rounds = 200, 50
	mission := uuid.New()
	subs := make([]*live.Sub, clients)
	for i := range subs {
		subs[i] = h.Subscribe(uuid.New(), mission)
	}
	counts := make([]int, clients)
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range s.C {
				counts[i]++
				if counts[i] == rounds {
					return
				}
			}
		}()
	}
	for range rounds {
		publish(t, db, live.Event{Kind: live.KindPlan, MissionID: mission})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	for i, n := range counts {
		if n != rounds {
			t.Fatalf("subscriber %d got %d of %d events", i, n, rounds)
		}
	}
}

// openSame opens a second pool on the database at u, as another Violet
// instance would.
func openSame(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(fmt.Errorf("second pool: %w", err))
	}
	return db
}

// TestHubStopsOnAHangingDatabase: a database that accepts connections and
// never answers must not hold the hub (and so a shutdown) up.
func TestHubStopsOnAHangingDatabase(t *testing.T) {
	u := testdb.HangingURL(t)
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := live.NewHub(db, u, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the hub did not stop within 2 s of its cancellation")
	}
	// Streams opened meanwhile end at once.
	if _, open := <-h.Subscribe(uuid.New(), uuid.Nil).C; open {
		t.Error("a subscriber of a stopped hub is open")
	}
}
