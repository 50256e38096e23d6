package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/passkey"
	"violet/internal/paths"
	accountview "violet/views/account"
)

// passkeys is the passkey workflows on this server's instance: the
// relying party is BASE_URL's host.
func (s *Server) passkeys() (*passkey.Service, error) {
	return passkey.New(s.Ent, s.DB, s.myAccount(), s.throttle, passkey.Config{BaseURL: s.Config.BaseURL,
		SessionKey: s.Config.SessionKey, Secure: s.Config.Secure(), Now: s.Now})
}

// ceremonyCookie is the request's ceremony cookie's value ("" for none).
func ceremonyCookie(c echo.Context, svc *passkey.Service) string {
	if ck, err := c.Request().Cookie(svc.CookieName()); err == nil {
		return ck.Value
	}
	return ""
}

// passkeyOptions answers a ceremony's first request: the options for the
// browser (JSON) with the ceremony's cookie, or the refusal.
func (s *Server) passkeyOptions(c echo.Context, opts []byte, ck *http.Cookie, err error) error {
	if err != nil {
		return s.passkeyRefusal(c, err)
	}
	http.SetCookie(c.Response(), ck)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSONBlob(http.StatusOK, opts)
}

// The browser's answer comes as JSON in the form field "credential" (the
// server takes no JSON bodies: handlers/textcheck.go).

// passkeyDone answers a ceremony's last request: where to go next, or the
// refusal; the ceremony's cookie goes either way (it is single use).
func (s *Server) passkeyDone(c echo.Context, svc *passkey.Service, next string, err error) error {
	http.SetCookie(c.Response(), svc.Clear())
	if err != nil {
		return s.passkeyRefusal(c, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": next})
}

// passkeyRefusal is a refused ceremony as the page's script shows it: a
// message in the reader's language ({"error"}), and where to go instead
// when the sign-in must start again ({"redirect"}).
func (s *Server) passkeyRefusal(c echo.Context, err error) error {
	ctx := c.Request().Context()
	body := map[string]string{}
	var status int
	switch {
	case errors.Is(err, passkey.ErrCeremony):
		status, body["error"] = http.StatusBadRequest, i18n.T(ctx, "passkeys.expired")
	case errors.Is(err, account.ErrPendingExpired):
		status, body["error"], body["redirect"] = http.StatusBadRequest, i18n.T(ctx, "factors.signin.expired"), paths.Login
	case errors.Is(err, passkey.ErrSignInFailed):
		status, body["error"] = http.StatusUnauthorized, i18n.T(ctx, "passkeys.signin.failed")
	default:
		var inv *app.Invalid
		if !errors.As(err, &inv) {
			return err
		}
		status = refusedStatus(c, err)
		var msgs []string
		if inv.Key != "" {
			msgs = append(msgs, i18n.T(ctx, inv.Key))
		}
		for _, k := range inv.Fields {
			msgs = append(msgs, i18n.T(ctx, k))
		}
		body["error"] = strings.Join(msgs, " ")
	}
	return c.JSON(status, body)
}

// beginPasskeyAdd re-authenticates (the add form's password, code) and
// returns the options to create a passkey; finishPasskeyAdd stores it.
func (s *Server) beginPasskeyAdd(c echo.Context) error {
	svc, err := s.passkeys()
	if err != nil {
		return err
	}
	opts, ck, err := svc.BeginRegistration(c.Request().Context(), reauthOf(c, accountview.PrefixPasskey), c.FormValue("name"))
	return s.passkeyOptions(c, opts, ck, err)
}

func (s *Server) finishPasskeyAdd(c echo.Context) error {
	svc, err := s.passkeys()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = svc.FinishRegistration(ctx, ceremonyCookie(c, svc), strings.NewReader(c.FormValue("credential")), currentSession(ctx))
	if err == nil {
		s.flash(c, "success", "passkeys.add.done")
	}
	return s.passkeyDone(c, svc, paths.AccountSecurity, err)
}

// renamePasskey and removePasskey change one of the viewer's passkeys;
// a refusal comes back next to that passkey's forms.
func (s *Server) renamePasskey(c echo.Context) error {
	return s.changePasskey(c, "passkeys.renamed", func(svc *passkey.Service, id uuid.UUID) error {
		return svc.Rename(c.Request().Context(), id, c.FormValue(accountview.PasskeyPrefix(id.String())+"name"))
	})
}

func (s *Server) removePasskey(c echo.Context) error {
	return s.changePasskey(c, "passkeys.removed", func(svc *passkey.Service, id uuid.UUID) error {
		return svc.Remove(c.Request().Context(), reauthOf(c, accountview.PasskeyPrefix(id.String())), id)
	})
}

func (s *Server) changePasskey(c echo.Context, done string, change func(*passkey.Service, uuid.UUID) error) error {
	svc, err := s.passkeys()
	if err != nil {
		return err
	}
	id, err := paramID(c)
	if err != nil {
		return err
	}
	err = change(svc, id)
	if errs, ok := invalidErrors(err); ok {
		return s.renderSecurity(c, refusedStatus(c, err), func(p *accountview.Security) {
			p.PasskeyErrors, p.PasskeyFailed = errs, id.String()
		})
	} else if err != nil {
		return err
	}
	s.flash(c, "success", done)
	return c.Redirect(http.StatusSeeOther, paths.AccountSecurity)
}

// beginPasskeyLogin and finishPasskeyLogin sign in with a passkey alone.
func (s *Server) beginPasskeyLogin(c echo.Context) error {
	svc, err := s.passkeys()
	if err != nil {
		return err
	}
	opts, ck, err := svc.BeginLogin()
	return s.passkeyOptions(c, opts, ck, err)
}

func (s *Server) finishPasskeyLogin(c echo.Context) error {
	return s.finishPasskeySignIn(c, false)
}

// beginPasskeySecondFactor and finishPasskeySecondFactor complete a
// pending sign-in (the cookie of auth.PendingCodec) with a passkey.
func (s *Server) beginPasskeySecondFactor(c echo.Context) error {
	svc, err := s.passkeys()
	if err != nil {
		return err
	}
	p, _ := auth.NewPendingCodec(s.Config.SessionKey, s.Config.Secure()).Read(c.Request())
	opts, ck, err := svc.BeginSecondFactor(c.Request().Context(), p)
	return s.passkeyOptions(c, opts, ck, err)
}

func (s *Server) finishPasskeySecondFactor(c echo.Context) error {
	return s.finishPasskeySignIn(c, true)
}

func (s *Server) finishPasskeySignIn(c echo.Context, second bool) error {
	svc, err := s.passkeys()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	in := passkey.LoginInput{Cookie: ceremonyCookie(c, svc), Body: strings.NewReader(c.FormValue("credential"))}
	if old := auth.Record(sessionFrom(ctx)); old != nil {
		in.Replace = old.ID
	}
	finish := svc.FinishLogin
	codec := auth.NewPendingCodec(s.Config.SessionKey, s.Config.Secure())
	if second {
		in.Pending, _ = codec.Read(c.Request())
		finish = svc.FinishSecondFactor
	}
	signed, err := finish(ctx, in)
	if err == nil {
		if second {
			http.SetCookie(c.Response(), codec.Clear())
		}
		s.Sessions.SetCookie(c.Response(), signed.Token, signed.Session.ExpiresAt)
		if second {
			err = s.completeLink(c, signed.Session)
		}
	}
	return s.passkeyDone(c, svc, safeNext(c.QueryParam("next")), err)
}
