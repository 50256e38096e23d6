package handlers

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// defaultBodyIdleTimeout is BODY_IDLE_TIMEOUT's default, for servers
// built without it (tests): see internal/config.
const defaultBodyIdleTimeout = 30 * time.Second

// idleBody cuts off a request body that makes no progress: before each
// read of the body the connection's read deadline is pushed to
// BODY_IDLE_TIMEOUT from now, so a large upload on a slow but moving link
// completes while a stalled one fails its read (the handler sees an error,
// the connection is closed) instead of holding its connection, goroutine
// and file descriptor for ever. ReadHeaderTimeout covers the headers; the
// server sets no deadline on the body itself.
func (s *Server) idleBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		body := &idleReader{
			ReadCloser: req.Body, rc: http.NewResponseController(c.Response()),
			idle: s.Config.BodyIdleTimeout,
		}
		req.Body = body
		// Set now, not only at the first read: a handler that answers
		// without reading the body (a refusal) makes the server read up
		// to 256 KB of it when the answer is written, to keep the
		// connection; that read is bounded too. No read of the
		// connection is pending meanwhile, so the deadline harms nothing.
		body.renew()
		err := next(c)
		if !body.done {
			_ = body.rc.SetReadDeadline(time.Now().Add(body.idle)) // the same, after the handler
		}
		return err
	}
}

// idleReader renews the read deadline before each read and clears it at
// the end of the body (where the connection allows it: a test's recorder
// does not, which is fine).
type idleReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool // the body was read to its end, or failed
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.done {
		return r.ReadCloser.Read(p)
	}
	r.renew()
	n, err := r.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		// At the end of the body the server starts reading the connection
		// in the background to notice a client that goes away; that read
		// must not time out while the handler works on, which would cancel
		// the request's context.
		r.done = true
		_ = r.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// A stalled or broken body: the deadline stays (in the past, for
		// a stall) so that no later read of the connection waits again.
		r.done = true
	}
	return n, err
}

func (r *idleReader) renew() { _ = r.rc.SetReadDeadline(time.Now().Add(r.idle)) }
