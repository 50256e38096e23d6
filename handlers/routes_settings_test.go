package handlers

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"violet/static"
)

// inconsistentRoutes lists the route table's entries whose settings
// contradict each other or what the middleware relies on.
func inconsistentRoutes(routes []RouteInfo) []string {
	var bad []string
	complain := func(r RouteInfo, format string, args ...any) {
		bad = append(bad, r.Method+" "+r.Path+": "+fmt.Sprintf(format, args...))
	}
	for _, r := range routes {
		if r.BodyLimit <= 0 {
			complain(r, "body limit %d is not a limit", r.BodyLimit)
		}
		if r.BodyLimit > formBodyLimit && r.Method != http.MethodPost {
			// Only uploads need more than a form; a GET never has a body.
			complain(r, "body limit %d above the form default on a %s", r.BodyLimit, r.Method)
		}
		if r.API != strings.HasPrefix(r.Access, "token:") {
			complain(r, "access %q on a route that is %san API route", r.Access, map[bool]string{true: "", false: "not "}[r.API])
		}
		if r.API && r.Session {
			// The API reads a bearer token only: a cookie must never
			// count, or a cross-site request could ride on it.
			complain(r, "an API route loads the session")
		}
		if !r.Session && r.Access != string(public) && !r.API {
			// Without a session the viewer is unknown: requireAccess
			// would send everyone to the sign-in page.
			complain(r, "skips the session but requires %q", r.Access)
		}
		if (r.Gzip || r.Stream) && r.Method != http.MethodGet {
			complain(r, "gzip or stream on a %s", r.Method)
		}
		if r.Stream && r.Gzip {
			// The gzip writer buffers; a stream must reach the client
			// event by event.
			complain(r, "a stream cannot be compressed")
		}
		if r.Bearer && r.Access == string(public) {
			complain(r, "takes a bearer token but is public anyway")
		}
	}
	return bad
}

// TestRouteSettingsAreConsistent walks the route table: the settings the
// middleware reads (body limit, session, gzip, stream, log level, bearer
// token) agree with each other, and the routes that need one have it.
func TestRouteSettingsAreConsistent(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, io.Discard)
	routes := s.Routes()
	if bad := inconsistentRoutes(routes); len(bad) > 0 {
		t.Errorf("inconsistent route settings:\n%s", strings.Join(bad, "\n"))
	}

	byKey := map[string]RouteInfo{}
	for _, r := range routes {
		byKey[r.Method+" "+r.Path] = r
	}
	want := func(key string, ok func(RouteInfo) bool, what string) {
		t.Helper()
		r, found := byKey[key]
		if !found {
			t.Errorf("%s: not in the route table", key)
			return
		}
		if !ok(r) {
			t.Errorf("%s: %s; got %+v", key, what, r)
		}
	}
	sessionlessAndQuiet := func(r RouteInfo) bool { return !r.Session && r.Quiet }
	want("GET "+static.Prefix+"*", func(r RouteInfo) bool { return sessionlessAndQuiet(r) && r.Gzip }, "assets: no session, quiet, gzip")
	want("GET /healthz", sessionlessAndQuiet, "probe: no session, quiet")
	want("GET /readyz", sessionlessAndQuiet, "probe: no session, quiet")
	want("GET /api/v1/diag/db", func(r RouteInfo) bool { return !r.Session }, "probe: no session")
	want("GET "+eventsPath, func(r RouteInfo) bool { return r.Stream && r.Session }, "event stream: a stream, with the session")
	want("GET "+metricsPath, func(r RouteInfo) bool { return r.Bearer }, "metrics: bearer token")
	want("POST "+evidenceUploadPath, func(r RouteInfo) bool { return r.BodyLimit == evidenceBodyCeiling }, "evidence upload: the evidence ceiling")
	for _, upload := range []string{"/admin/attack-sync/upload", "/library/import/atomic", "/library/import/library"} {
		want("POST "+upload, func(r RouteInfo) bool { return r.BodyLimit == uploadBodyLimit }, "upload: the upload limit")
	}
	// Pages and forms keep the defaults: every setting above is named for
	// the routes that need it, not spread by accident.
	want("POST /login", func(r RouteInfo) bool {
		return reflect.DeepEqual(r, RouteInfo{Method: r.Method, Path: r.Path, Access: r.Access, BodyLimit: formBodyLimit, Session: true})
	}, "a form: the defaults")

	t.Run("the check catches contradictory settings", func(t *testing.T) {
		broken := []RouteInfo{
			{Method: http.MethodGet, Path: "/big-get", Access: "public", BodyLimit: uploadBodyLimit, Session: true},
			{Method: http.MethodGet, Path: "/private-sessionless", Access: "mission.read", BodyLimit: formBodyLimit},
			{Method: http.MethodPost, Path: "/gzip-post", Access: "public", BodyLimit: formBodyLimit, Session: true, Gzip: true},
			{Method: http.MethodGet, Path: "/zipped-stream", Access: "signed-in", BodyLimit: formBodyLimit, Session: true, Gzip: true, Stream: true},
			{Method: http.MethodGet, Path: "/public-bearer", Access: "public", BodyLimit: formBodyLimit, Session: true, Bearer: true},
			{Method: http.MethodPost, Path: "/no-limit", Access: "public", Session: true},
		}
		bad := inconsistentRoutes(broken)
		for _, r := range broken {
			found := false
			for _, b := range bad {
				found = found || strings.HasPrefix(b, r.Method+" "+r.Path+":")
			}
			if !found {
				t.Errorf("%s %s not reported; reports: %v", r.Method, r.Path, bad)
			}
		}
	})
}

// TestRouteOfFindsTheMatchedRoute: the middleware reads the settings of
// the route echo matched, HEAD finds its GET route's, and a request that
// matched no route gets the defaults.
func TestRouteOfFindsTheMatchedRoute(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, io.Discard)
	for _, tc := range []struct {
		method, path string
		want         func(route) bool
	}{
		{http.MethodGet, "/static/app.css", func(r route) bool { return r.noSession && r.gzip && r.quiet }},
		{http.MethodHead, "/healthz", func(r route) bool { return r.noSession && r.quiet }},
		{http.MethodPost, "/library/import/atomic", func(r route) bool { return r.bodyLimit() == uploadBodyLimit }},
		{http.MethodGet, "/library/import/123", func(r route) bool { return r.bodyLimit() == formBodyLimit }},
		{http.MethodGet, "/events", func(r route) bool { return r.stream && !r.noSession }},
		{http.MethodGet, "/no/such/page", func(r route) bool {
			return r.handler == nil && r.bodyLimit() == formBodyLimit && !r.noSession && !r.gzip && !r.stream && !r.quiet && !r.bearer
		}},
	} {
		req, err := http.NewRequest(tc.method, tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := s.echo.NewContext(req, nil)
		s.echo.Router().Find(tc.method, tc.path, c)
		if r := s.routeOf(c); !tc.want(r) {
			t.Errorf("%s %s (template %q): settings %+v", tc.method, tc.path, c.Path(), r)
		}
	}
}
