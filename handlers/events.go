package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/live"
	"violet/internal/mission"
	"violet/internal/paths"
)

// Live updates: every signed-in page opens one Server-Sent Events stream,
// GET /events, for the viewer's bell and, on a mission's pages
// (?mission=<id>), that mission's changes. Events carry ids, never
// content: the page fetches what changed through the ordinary routes,
// which check permissions again.
const (
	eventsPath = paths.Events
	// streamHeartbeat keeps idle streams alive through proxies and
	// notices clients that went away.
	streamHeartbeat = 25 * time.Second
	// streamMaxAge ends every stream after a while; the browser reconnects
	// with Last-Event-ID, and that request goes through the session checks
	// again (logout, deactivation, membership) and replays what it missed.
	streamMaxAge = 5 * time.Minute
	// streamWriteTimeout bounds one write to a client that stopped reading.
	streamWriteTimeout = 10 * time.Second
	// streamRetry is the reconnection delay the browser is told to use.
	streamRetry = 2 * time.Second
)

// liveURL is the stream a page opens: everything after the newest event
// this instance has handed out, so nothing committed while the page was
// rendered is missed. missionID is uuid.Nil outside a mission.
func (s *Server) liveURL(missionID uuid.UUID) string {
	u := eventsPath + "?since=" + strconv.FormatInt(s.Live.Last(), 10)
	if missionID != uuid.Nil {
		u += "&mission=" + missionID.String()
	}
	return u
}

// liveData is the data of one event as the page's script reads it.
type liveData struct {
	Test string `json:"test,omitempty"`
	Self bool   `json:"self,omitempty"` // the viewer made the change
}

// stream is one open event stream. It holds no request state: once the
// stream is under way the request is over (see streamEvents).
type stream struct {
	s      *Server
	write  func(text string) error
	viewer *auth.Viewer
	access *mission.Access // nil outside a mission
	last   int64           // the newest event id sent
}

// streamEvents serves GET /events. A reconnecting browser sends the last
// id it got (Last-Event-ID) and receives what it missed first; a first
// connection gives ?since= from the page. A mission the viewer may not see
// is 404 like everywhere else. Blue members never receive events of tests
// not released to them, nor plan changes.
//
// Once checked, the connection is taken over from net/http (hijacked) and
// served by one goroutine of its own with a shallow stack: the request's
// goroutine, buffers and context are let go, so an idle stream costs a few
// kilobytes rather than the tens a parked request would (budget: ≤ 20 KB per
// idle stream; BenchmarkLiveDelivery measures it). Where the connection cannot
// be taken over (HTTP/2, test recorders) the request serves the stream itself.
func (s *Server) streamEvents(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	v := auth.FromContext(ctx)
	st := &stream{s: s, viewer: v}
	missionID := uuid.Nil
	if raw := c.QueryParam("mission"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return echo.ErrNotFound
		}
		if st.access, err = mission.Load(ctx, s.Ent, v, id); err != nil {
			return err
		}
		missionID = id
	}
	since, err := streamSince(req)
	if err != nil {
		return echo.ErrBadRequest
	}
	// Subscribe before reading the backlog: an event committed in between
	// arrives twice at worst, and the ids tell the copies apart.
	sub := s.Live.Subscribe(v.UserID, missionID)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	// The stream's own context: the viewer (privacy rules) and nothing of
	// the request.
	streamCtx := auth.NewContext(context.Background(), v)

	if conn, err := takeOver(c); err == nil {
		st.write = func(text string) error {
			_ = conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			_, err := io.WriteString(conn, text)
			return err
		}
		go func() {
			defer conn.Close()
			defer s.Live.Unsubscribe(sub)
			st.run(streamCtx, sub, since)
		}()
		return nil
	}
	defer s.Live.Unsubscribe(sub)
	rc := http.NewResponseController(c.Response().Writer)
	c.Response().WriteHeader(http.StatusOK)
	st.write = func(text string) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := c.Response().Write([]byte(text)); err != nil {
			return err
		}
		return rc.Flush()
	}
	ctx, cancel := context.WithCancel(streamCtx)
	defer cancel()
	stop := context.AfterFunc(req.Context(), cancel) // the client went away
	defer stop()
	st.run(ctx, sub, since)
	return nil
}

// takeOver hijacks the connection and writes the response head: the
// headers set so far (the session cookie's rotation among them, which
// must reach the browser) and a body that lasts until the connection
// closes.
func takeOver(c echo.Context) (net.Conn, error) {
	conn, rw, err := http.NewResponseController(c.Response().Writer).Hijack()
	if err != nil {
		return nil, err
	}
	if rw.Reader.Buffered() > 0 {
		// A pipelined request behind the stream: not something a browser
		// does. Refuse rather than lose it.
		conn.Close()
		return nil, errors.New("pipelined request")
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	h := c.Response().Header().Clone()
	h.Set("Connection", "close")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	_ = conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		conn.Close()
		return nil, err
	}
	c.Response().Committed = true // nothing more goes through echo
	return conn, nil
}

// run sends the backlog after since (-1: none), then the live events,
// until the client goes, the hub drops or stops, or streamMaxAge.
func (st *stream) run(ctx context.Context, sub *live.Sub, since int64) {
	s := st.s
	if st.write(fmt.Sprintf("retry: %d\n\n", streamRetry.Milliseconds())) != nil {
		return
	}
	if since >= 0 {
		st.last = since
		backlog, err := s.Live.Since(ctx, since, st.viewer.UserID, sub.MissionID)
		if errors.Is(err, live.ErrTooOld) {
			// Too much was missed to replay: the page reloads its data.
			backlog = nil
			if st.write("event: reset\ndata: {}\n\n") != nil {
				return
			}
			st.last = s.Live.Last()
		} else if err != nil {
			s.Log.Warn("live events: backlog", "err", err)
			return
		}
		for _, e := range backlog {
			if !st.send(ctx, e) {
				return
			}
		}
	}
	// Streams end after a while: the browser reconnects with
	// Last-Event-ID through the session checks again.
	ctx, cancel := context.WithTimeout(ctx, streamMaxAge)
	defer cancel()
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				// Dropped for falling behind, or the server is stopping:
				// the browser reconnects and catches up.
				return
			}
			if !st.send(ctx, e) {
				return
			}
		case <-beat.C:
			// Also how a client that went away is noticed.
			if st.write(": ping\n\n") != nil {
				return
			}
		}
	}
}

// streamSince is where a stream starts: the Last-Event-ID header of a
// reconnecting browser, else ?since=, else -1 (no backlog).
func streamSince(r *http.Request) (int64, error) {
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		raw = r.URL.Query().Get("since")
	}
	if raw == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("bad event id")
	}
	return n, nil
}

// send writes one event if the viewer may have it. It returns false when
// the stream must end (the client is gone, or lost access to the mission).
func (st *stream) send(ctx context.Context, e *live.Event) bool {
	if e.ID <= st.last {
		return true // already sent (backlog and live overlap)
	}
	st.last = e.ID
	name, data := string(e.Kind), liveData{Self: e.ActorID == st.viewer.UserID}
	if e.Kind != live.KindNotification && st.access == nil {
		return true // the hub only routes mission events to mission streams
	}
	switch e.Kind {
	case live.KindNotification:
		name = "bell"
	case live.KindMembers:
		// Roles decide what the viewer sees: read them again, and end the
		// stream of someone no longer on the mission.
		a, err := mission.Load(ctx, st.s.Ent, st.viewer, st.access.Mission.ID)
		if ent.IsNotFound(err) {
			_ = st.write(fmt.Sprintf("id: %d\nevent: gone\ndata: {}\n\n", e.ID))
			return false
		}
		if err != nil {
			return false // the browser reconnects and tries again
		}
		st.access = a
	case live.KindTest:
		if !st.access.SeesUnreleased() && !e.Released {
			return true
		}
		data.Test = e.TestID.String()
	case live.KindPlan:
		if !st.access.SeesUnreleased() {
			return true // a plan change may be about unreleased tests
		}
	}
	b, _ := json.Marshal(data)
	return st.write(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", e.ID, name, b)) == nil
}
