package handlers

import (
	"crypto/sha256"
	"net/http"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"violet/internal/i18n"
	"violet/views/layout"
)

// flashCookie holds one-time messages between a form's redirect and the
// page it lands on. It carries only i18n keys, signed, never data.
const flashCookie = "violet_flash"

func newFlashStore(key []byte, secure bool) *sessions.CookieStore {
	mac := sha256.Sum256(append([]byte("violet flash cookie\x00"), key...))
	store := sessions.NewCookieStore(mac[:])
	store.Options = &sessions.Options{Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	return store
}

// flash queues a message (an i18n key) for the next page; kind is
// "success" or "error".
func (s *Server) flash(c echo.Context, kind, key string) {
	sess, _ := s.flashes.Get(c.Request(), flashCookie) // a bad cookie gives a new session
	sess.AddFlash(key, kind)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		s.Log.Warn("save flash", "err", err)
	}
}

// takeFlashes returns the queued messages, translated, and clears them.
func (s *Server) takeFlashes(c echo.Context) []layout.Flash {
	r := c.Request()
	if _, err := r.Cookie(flashCookie); err != nil {
		return nil
	}
	sess, _ := s.flashes.Get(r, flashCookie)
	var out []layout.Flash
	for _, kind := range []string{"success", "error"} {
		for _, f := range sess.Flashes(kind) {
			if key, ok := f.(string); ok {
				out = append(out, layout.Flash{Kind: kind, Message: i18n.T(r.Context(), key)})
			}
		}
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(r, c.Response()); err != nil {
		s.Log.Warn("clear flash", "err", err)
	}
	return out
}
