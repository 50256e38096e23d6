package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/auth"
	"violet/internal/live"
	"violet/internal/mission"
)

// Live updates: every signed-in page opens one Server-Sent Events stream,
// GET /events, for the viewer's bell and, on a mission's pages
// (?mission=<id>), that mission's changes. Events carry ids, never
// content: the page fetches what changed through the ordinary routes,
// which check permissions again.
const (
	eventsPath = "/events"
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

// stream is one open event stream.
type stream struct {
	s      *Server
	c      echo.Context
	rc     *http.ResponseController
	viewer *auth.Viewer
	access *mission.Access // nil outside a mission
	last   int64           // the newest event id sent
}

// streamEvents serves GET /events. A reconnecting browser sends the last
// id it got (Last-Event-ID) and receives what it missed first; a first
// connection gives ?since= from the page. A mission the viewer may not see
// is 404 like everywhere else. Blue members never receive events of tests
// not released to them, nor plan changes.
func (s *Server) streamEvents(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	v := auth.FromContext(ctx)
	st := &stream{s: s, c: c, rc: http.NewResponseController(c.Response().Writer), viewer: v}
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
	defer s.Live.Unsubscribe(sub)

	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Response().WriteHeader(http.StatusOK)
	if err := st.write(fmt.Sprintf("retry: %d\n\n", streamRetry.Milliseconds())); err != nil {
		return nil
	}
	if since >= 0 {
		st.last = since
		backlog, err := s.Live.Since(ctx, since, v.UserID, missionID)
		if errors.Is(err, live.ErrTooOld) {
			// Too much was missed to replay: the page reloads its data.
			backlog = nil
			if err := st.write("event: reset\ndata: {}\n\n"); err != nil {
				return nil
			}
			st.last = s.Live.Last()
		} else if err != nil {
			s.Log.Warn("live events: backlog", "err", err)
			return nil
		}
		for _, e := range backlog {
			if !st.send(ctx, e) {
				return nil
			}
		}
	}
	// Streams outlive the request deadline on purpose (the deadline
	// middleware leaves this route alone); they end at streamMaxAge.
	ctx, cancel := context.WithTimeout(ctx, streamMaxAge)
	defer cancel()
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				// Dropped for falling behind, or the server is stopping:
				// the browser reconnects and catches up.
				return nil
			}
			if !st.send(ctx, e) {
				return nil
			}
		case <-beat.C:
			if st.write(": ping\n\n") != nil {
				return nil
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
		if err != nil {
			_ = st.write(fmt.Sprintf("id: %d\nevent: gone\ndata: {}\n\n", e.ID))
			return false
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

// write sends text and flushes it, giving up on a client that does not
// read it in time.
func (st *stream) write(text string) error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := st.c.Response().Write([]byte(text)); err != nil {
		return err
	}
	return st.rc.Flush()
}
