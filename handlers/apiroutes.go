package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"violet/handlers/api"
	"violet/internal/apitoken"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/internal/i18n"
	"violet/internal/libraryimport"
	"violet/internal/mission"
	"violet/internal/missionarchive"
	"violet/internal/textrule"
	"violet/internal/vectr"
	"violet/views/apidocs"
)

// The JSON API (handlers/api) is served from the same route table as the
// pages: its generated registration is collected into route rows, each
// with the token scopes its operation names in the document. Its routes
// load no session and skip the cross-origin check: they read a bearer
// token only and ignore cookies, so there is no CSRF surface to guard.

// tokenAccess is the access of an API route: a token with one of scopes.
func tokenAccess(scopes []string) access { return access("token:" + strings.Join(scopes, "|")) }

// routeCollector is the generated code's EchoRouter: it records routes
// instead of installing them.
type routeCollector struct{ routes []route }

func (rc *routeCollector) add(method, path string, h echo.HandlerFunc) *echo.Route {
	rc.routes = append(rc.routes, route{method: method, path: path, handler: h})
	return nil
}

func (rc *routeCollector) CONNECT(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodConnect, p, h)
}
func (rc *routeCollector) DELETE(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodDelete, p, h)
}
func (rc *routeCollector) GET(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodGet, p, h)
}
func (rc *routeCollector) HEAD(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodHead, p, h)
}
func (rc *routeCollector) OPTIONS(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodOptions, p, h)
}
func (rc *routeCollector) PATCH(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodPatch, p, h)
}
func (rc *routeCollector) POST(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodPost, p, h)
}
func (rc *routeCollector) PUT(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodPut, p, h)
}
func (rc *routeCollector) TRACE(p string, h echo.HandlerFunc, _ ...echo.MiddlewareFunc) *echo.Route {
	return rc.add(http.MethodTrace, p, h)
}

// apiRoutes are the API's rows of the route table.
func (s *Server) apiRoutes() []route {
	rc := &routeCollector{}
	api.RegisterHandlersWithBaseURL(rc, api.NewStrictHandler(s.apiServer(), nil), api.Base)
	for i := range rc.routes {
		r := &rc.routes[i]
		op := s.apiSpec.Operation(r.method, r.path)
		if op == nil {
			// The generated code and the document come from the same
			// file; a route without an operation is a broken build.
			panic(fmt.Sprintf("api: %s %s has no operation in the document", r.method, r.path))
		}
		r.access, r.api = tokenAccess(op.Scopes), op
		r.noSession, r.crossSite = true, true
		switch {
		case op.ID == "importExecutionLog":
			r.body = execLogBodyLimit
		case op.ID == "importMissionArchive":
			r.body = missionArchiveBodyLimit
		case op.ID == "uploadEvidence":
			r.body = evidenceBodyCeiling
		case op.Upload:
			r.body = uploadBodyLimit // the library's and VECTR's imports
		}
	}
	return rc.routes
}

// apiServer is the API's implementation on this server's workflows.
func (s *Server) apiServer() *api.Server {
	return api.New(api.Deps{Ent: s.Ent, DB: s.DB, Missions: s.missions(), Steps: s.steps(), Evidence: s.evidenceService(),
		ExecLogs: s.execLogs(), Vectr: vectr.NewService(s.Ent), Archives: s.missionArchives(),
		Imports: libraryimport.NewService(s.Jobs), Syncer: s.Syncer, Hold: s.holdDocument, Now: s.Now})
}

// requireToken admits an API request carrying a valid bearer token with
// one of the operation's scopes, within the token's rate, and runs it as
// the token's owner (permissions narrowed by the scopes), in UTC. Every
// call is audited with the token's name once it is answered.
func (s *Server) requireToken(op *api.Operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			scheme, raw, _ := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="violet"`)
				return errUnauthenticated
			}
			p, err := s.tokens.Authenticate(req.Context(), strings.TrimSpace(raw))
			if errors.Is(err, apitoken.ErrUnauthenticated) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="violet", error="invalid_token"`)
				return errUnauthenticated
			}
			if err != nil {
				return err
			}
			ctx := auth.NewContext(req.Context(), p.Viewer)
			info := auth.RequestInfoFrom(ctx)
			info.Token = p.TokenName
			ctx = auth.WithRequestInfo(ctx, info)
			ctx = i18n.NewContext(ctx, s.Catalog.Pick(p.Viewer.Locale, req.Header.Get("Accept-Language")))
			ctx = i18n.WithZone(ctx, s.zones.Of(""))
			c.SetRequest(req.WithContext(ctx))
			err = s.admitToken(c, op, p)
			if err == nil {
				err = next(c)
			}
			status := c.Response().Status
			if err != nil {
				status = statusOf(err)
			}
			if status == http.StatusTooManyRequests {
				// Over its rate, a runaway script would fill the audit
				// log with the calls the limit refuses: those go to the
				// log only.
				s.Log.Info("API token over its rate", "id", requestIDFrom(ctx), "token", p.TokenName)
				return err
			}
			if rerr := s.tokens.RecordCall(context.WithoutCancel(ctx), p, req.Method, c.Path(), status); rerr != nil {
				s.Log.Error("audit an API call", "id", requestIDFrom(ctx), "err", rerr)
			}
			return err
		}
	}
}

// admitToken checks the token's rate, its scope, its owner's permission
// for the operation, then the request against the document: all before
// any handler reads the body.
func (s *Server) admitToken(c echo.Context, op *api.Operation, p *apitoken.Principal) error {
	if ok, wait := s.apiLimits.Allow(p.TokenID); !ok {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return &api.BadRequest{Status: http.StatusTooManyRequests, Detail: "this token made too many calls: retry after the delay in Retry-After"}
	}
	// Every scope reads: a script that writes its side must read the test
	// (and its ETag) first.
	reads := slices.Contains(op.Scopes, apitoken.ScopeRead) && len(p.Scopes) > 0
	if !reads && !slices.ContainsFunc(op.Scopes, p.Has) {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate,
			fmt.Sprintf(`Bearer realm="violet", error="insufficient_scope", scope="%s"`, strings.Join(op.Scopes, " ")))
		return &api.BadRequest{Status: http.StatusForbidden,
			Detail: "this token lacks the scope this operation needs: " + strings.Join(op.Scopes, " or ")}
	}
	if !p.Viewer.Can(op.Permission) {
		// The page's own permission, before any body is read.
		return echo.ErrForbidden
	}
	params := make(map[string]string, len(c.ParamNames()))
	for i, n := range c.ParamNames() {
		params[n] = c.ParamValues()[i]
	}
	return op.Validate(c.Request().Context(), c.Request(), params)
}

// checkJSONText applies the text rule to a JSON body: valid UTF-8 as a
// whole (the decoder would quietly replace what is not), and every string
// (keys included) without NUL, so that none reaches PostgreSQL. The body
// is bounded by the route's limit already; it is put back for the handler.
func checkJSONText(req *http.Request) error {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	if !utf8.Valid(b) {
		return &badTextError{http.StatusBadRequest, "body", textrule.ErrInvalidUTF8}
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil // not JSON: the document's validation says so, with the reason
	}
	return walkJSONText("body", v)
}

func walkJSONText(at string, v any) error {
	switch x := v.(type) {
	case string:
		if err := textrule.Check(x); err != nil {
			return &badTextError{http.StatusUnprocessableEntity, at, err}
		}
	case []any:
		for i, e := range x {
			if err := walkJSONText(at+"."+strconv.Itoa(i), e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := textrule.Check(k); err != nil {
				return &badTextError{http.StatusUnprocessableEntity, at, err}
			}
			if err := walkJSONText(at+"."+k, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// errUnauthenticated: no bearer token, or one that is not valid (401).
var errUnauthenticated = echo.NewHTTPError(http.StatusUnauthorized, "a valid API token is required (Authorization: Bearer …)")

// writeProblem answers an API request's failure as application/problem+json
// (RFC 9457): the status, a detail a script's author can act on, and the
// fields at fault.
func (s *Server) writeProblem(c echo.Context, status int, err error, rid string) error {
	p := api.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Instance: &rid}
	detail := problemDetail(c.Request().Context(), err, &p)
	if detail == "" {
		detail = problemDefault(status)
	}
	if detail != "" {
		p.Detail = &detail
	}
	b, merr := json.Marshal(p)
	if merr != nil {
		return merr
	}
	return c.Blob(status, "application/problem+json", b)
}

// joinDetail is a refusal's message with what it names, when it names
// something.
func joinDetail(msg, detail string) string {
	if detail == "" {
		return msg
	}
	return msg + ": " + detail
}

// problemDefault says what a bare status means for a script's author.
func problemDefault(status int) string {
	switch status {
	case http.StatusForbidden:
		return "the token's owner may not do this: their permissions, narrowed by the token's scopes, or their role on the mission do not allow it"
	case http.StatusNotFound:
		return "no such thing, or the token's owner may not see it"
	case http.StatusConflict:
		return "the thing's state does not allow this now"
	}
	return ""
}

// problemDetail says what went wrong without leaking internals: the
// messages of the failure kinds written for people, the field errors of
// a refused input in the token owner's language, the status text for
// anything else.
func problemDetail(ctx context.Context, err error, p *api.Problem) string {
	var (
		archived *missionarchive.Refused
		document *libraryimport.DocumentRefused
		text     *badTextError
		bad      *api.BadRequest
		inv      *app.Invalid
		he       *echo.HTTPError
		state    *mission.ErrState
		trans    *mission.ErrTransition
	)
	loc := i18n.FromContext(ctx)
	switch {
	case errors.As(err, &text):
		field := strings.TrimPrefix(text.field, "body.")
		p.Errors = &[]api.FieldError{{Field: field, Message: text.err.Error()}}
		return "a text value breaks the text rule (valid UTF-8, no NUL, not too long)"
	case errors.As(err, &bad):
		if len(bad.Fields) > 0 {
			p.Errors = &bad.Fields
		}
		return bad.Detail
	case errors.As(err, &inv):
		errs := make([]api.FieldError, 0, len(inv.Fields))
		for _, f := range slices.Sorted(maps.Keys(inv.Fields)) {
			errs = append(errs, api.FieldError{Field: f, Message: loc.T(inv.Fields[f])})
		}
		p.Errors = &errs
		if inv.Key != "" {
			return loc.T(inv.Key)
		}
		return "the request breaks a rule: see errors"
	case errors.Is(err, api.ErrPrecondition):
		return api.ErrPrecondition.Error()
	case errors.As(err, &archived):
		return joinDetail(loc.T(archived.Reason), archived.Detail)
	case errors.As(err, &document):
		return joinDetail(loc.T(document.Key), document.Cause)
	case errors.Is(err, app.ErrInvalid):
		// A refused file (a VECTR export names its line): its message
		// says what and where, in English.
		return err.Error()
	case errors.As(err, &state), errors.As(err, &trans),
		errors.Is(err, mission.ErrForbidden), errors.Is(err, mission.ErrReadOnly), errors.Is(err, mission.ErrConflict):
		return err.Error()
	case errors.As(err, &he):
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			return m
		}
	}
	return ""
}

// showAPIDocument serves the API's OpenAPI document.
func (s *Server) showAPIDocument(c echo.Context) error {
	b, err := s.apiSpec.JSON()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

// showAPIDocs renders the same document for people.
func (s *Server) showAPIDocs(c echo.Context) error {
	return s.render(c, http.StatusOK, apidocs.Page(s.layoutProps(c, "apidocs.title", ""), s.apiSpec.Docs()), nil)
}
