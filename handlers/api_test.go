package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"

	"violet/ent/missiontest"
	"violet/handlers/api"
	"violet/internal/apitoken"
	"violet/internal/testkit/apptest"
)

// apiClient calls the JSON API of an app with a bearer token and checks
// every request it sends and every response it gets against the OpenAPI
// document (kin-openapi), so that the code and the document cannot drift
// apart without a test failing.
type apiClient struct {
	t      *testing.T
	app    *apptest.App
	router routers.Router
}

func newAPIClient(t *testing.T, app *apptest.App) *apiClient {
	t.Helper()
	doc, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	// The document's server is relative (/api/v1): the router matches
	// paths without it.
	doc.Servers = nil
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, app: app, router: r}
}

// token makes an API token for userID with scopes, as the command line
// does (the system may make one for anybody).
func (c *apiClient) token(userID uuid.UUID, name string, scopes ...string) string {
	c.t.Helper()
	svc := apitoken.NewService(c.app.Ent, c.app.DB, time.Now)
	made, err := svc.CreateFor(apptest.AsWorld(c.app).Sys(), userID, apitoken.Input{Name: name, Scopes: scopes, ExpiresIn: "30d"})
	if err != nil {
		c.t.Fatalf("token %s: %v", name, err)
	}
	return made.Token
}

// apiCall is one request: a JSON body (any) or a prepared body with its
// content type, and header pairs.
type apiCall struct {
	method, path, token string
	json                any
	body                []byte
	contentType         string
	header              []string
}

// do sends the call and validates both sides against the document. A
// request the document refuses is still sent (the server must refuse it
// too) when invalid is true.
func (c *apiClient) do(call apiCall, invalid ...bool) *httptest.ResponseRecorder {
	c.t.Helper()
	body, ct := call.body, call.contentType
	if call.json != nil {
		b, err := json.Marshal(call.json)
		if err != nil {
			c.t.Fatal(err)
		}
		body, ct = b, "application/json"
	}
	newReq := func() *http.Request {
		r := httptest.NewRequest(call.method, call.path, bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if call.token != "" {
			r.Header.Set("Authorization", "Bearer "+call.token)
		}
		for i := 0; i+1 < len(call.header); i += 2 {
			r.Header.Set(call.header[i], call.header[i+1])
		}
		return r
	}
	// The document's view of the request.
	vr := newReq()
	vr.URL.Path = strings.TrimPrefix(vr.URL.Path, api.Base)
	route, params, err := c.router.FindRoute(vr)
	if err != nil {
		c.t.Fatalf("%s %s: no operation in the document: %v", call.method, call.path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && len(invalid) == 0 {
		c.t.Fatalf("%s %s: the request does not match the document: %v", call.method, call.path, err)
	}
	w := c.app.Do(newReq())
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code, Header: w.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Fatalf("%s %s: the response (%d) does not match the document: %v\n%s", call.method, call.path, w.Code, err, w.Body.String())
	}
	return w
}

func decodeJSON[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body.String(), err)
	}
	return v
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body.String())
	}
}

func testPath(m, id uuid.UUID, rest string) string {
	return api.Base + "/missions/" + m.String() + "/tests/" + id.String() + rest
}

func TestAPIRedTokenRecordsAnExecution(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API run", "in_progress")
	id := w.Test(t, m, apptest.TestOpts{Name: "Encoded PowerShell"})
	tok := c.token(w.User("red"), "ci-red", "red")

	got := c.do(apiCall{method: http.MethodGet, path: testPath(m, id, ""), token: tok})
	wantStatus(t, got, http.StatusOK)
	tag := got.Header().Get("ETag")
	if tag != `"1"` {
		t.Fatalf("ETag %q, want \"1\"", tag)
	}
	// HEAD gives the ETag too (the README's curl -I).
	head := httptest.NewRequest(http.MethodHead, testPath(m, id, ""), nil)
	head.Header.Set("Authorization", "Bearer "+tok)
	if r := w.App.Do(head); r.Code != http.StatusOK || r.Header().Get("ETag") != tag {
		t.Fatalf("HEAD: %d, ETag %q", r.Code, r.Header().Get("ETag"))
	}
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok, header: []string{"If-Match", tag},
		json: map[string]any{"command": "powershell -enc SQBFAFgA", "target_host": "WS-042", "started_at": start, "step": "start"}})
	wantStatus(t, got, http.StatusOK)
	after := decodeJSON[api.Test](t, got)
	if after.State != api.TestStateRunning || after.Red.Command != "powershell -enc SQBFAFgA" || after.Red.TargetHost != "WS-042" {
		t.Fatalf("after start: %+v", after)
	}
	if got.Header().Get("ETag") == tag {
		t.Fatal("the ETag did not change with the test")
	}
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok,
		header: []string{"If-Match", got.Header().Get("ETag")}, json: map[string]any{"ended_at": start.Add(3 * time.Minute), "step": "stop"}})
	wantStatus(t, got, http.StatusOK)
	after = decodeJSON[api.Test](t, got)
	if after.State != api.TestStateExecuted || after.Red.EndedAt == nil || !after.Red.EndedAt.Equal(start.Add(3*time.Minute)) ||
		after.Red.Command != "powershell -enc SQBFAFgA" {
		t.Fatalf("after stop: %+v", after.Red)
	}
	// A run cannot end before it started: a field error, nothing saved.
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok,
		header: []string{"If-Match", got.Header().Get("ETag")}, json: map[string]any{"ended_at": start.Add(-time.Hour)}})
	wantStatus(t, got, http.StatusUnprocessableEntity)
	if p := decodeJSON[api.Problem](t, got); p.Errors == nil || (*p.Errors)[0].Field != "ended_at" {
		t.Errorf("errors: %s", got.Body.String())
	}
	// The workflow's own audit events name the token, and so does the
	// record of every call.
	if n := w.Count(t, `audit_events WHERE action = 'mission_test.started' AND details->>'api_token' = 'ci-red'`); n != 1 {
		t.Errorf("%d start events naming the token, want 1", n)
	}
	if n := w.Count(t, `audit_events WHERE action = 'api.call' AND details->>'token' = 'ci-red'`); n != 5 {
		t.Errorf("%d api.call events, want 5", n)
	}
}

func TestAPIBlueTokenRecordsOutcomes(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API blue", "in_progress")
	id := w.Test(t, m, apptest.TestOpts{Name: "Mimikatz", State: missiontest.StateExecuted, Released: true})
	tok := c.token(w.User("blue"), "soc", "blue", "read")
	level := w.Level(t, "Alerted")

	got := c.do(apiCall{method: http.MethodGet, path: testPath(m, id, ""), token: tok})
	wantStatus(t, got, http.StatusOK)
	at := time.Date(2026, 12, 1, 10, 4, 30, 0, time.UTC)
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/outcomes/none"), token: tok,
		header: []string{"If-Match", got.Header().Get("ETag")},
		json:   map[string]any{"detection_level_id": level, "detected_at": at, "alert_name": "LSASS access", "log_source": "Sysmon"}})
	wantStatus(t, got, http.StatusOK)
	after := decodeJSON[api.Test](t, got)
	if len(after.Outcomes) != 1 || after.Outcomes[0].AlertName != "LSASS access" || after.Outcomes[0].DetectedAt == nil ||
		!after.Outcomes[0].DetectedAt.Equal(at) {
		t.Fatalf("outcomes: %+v", after.Outcomes)
	}
	if after.DetectionLevel == nil || *after.DetectionLevel != "Alerted" {
		t.Fatalf("overall result %v, want Alerted", after.DetectionLevel)
	}
	// Blue may not write the red side, whatever the token's scope.
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok,
		header: []string{"If-Match", got.Header().Get("ETag")}, json: map[string]any{"command": "x"}})
	wantStatus(t, got, http.StatusForbidden)
}

func TestAPIStaleIfMatch(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API stale", "in_progress")
	id := w.Test(t, m, apptest.TestOpts{Name: "Stale"})
	tok := c.token(w.User("red"), "ci", "red")
	got := c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok, header: []string{"If-Match", `"1"`},
		json: map[string]any{"command": "first"}})
	wantStatus(t, got, http.StatusOK)
	// A second writer still holding version 1.
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok, header: []string{"If-Match", `"1"`},
		json: map[string]any{"command": "second"}})
	wantStatus(t, got, http.StatusPreconditionFailed)
	if ct := got.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	if cmd := w.Value(t, `SELECT command FROM mission_tests WHERE id = $1`, id); cmd != "first" {
		t.Errorf("command %q after a stale write, want first", cmd)
	}
	// Without If-Match at all: 428.
	got = c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok, json: map[string]any{"command": "third"}}, true)
	wantStatus(t, got, http.StatusPreconditionRequired)
}

func TestAPIBlueNeverSeesAnUnreleasedTest(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API privacy", "in_progress")
	hidden := w.Test(t, m, apptest.TestOpts{Name: "Unreleased", State: missiontest.StateExecuted})
	shown := w.Test(t, m, apptest.TestOpts{Name: "Released", State: missiontest.StateExecuted, Released: true})
	tok := c.token(w.User("blue"), "soc", "admin")

	got := c.do(apiCall{method: http.MethodGet, path: api.Base + "/missions/" + m.String() + "/tests", token: tok})
	wantStatus(t, got, http.StatusOK)
	page := decodeJSON[api.TestPage](t, got)
	if len(page.Items) != 1 || page.Items[0].Id != shown {
		t.Fatalf("blue lists %+v, want only the released test", page.Items)
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: testPath(m, hidden, ""), token: tok}), http.StatusNotFound)
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: testPath(m, hidden, "/evidence"), token: tok}), http.StatusNotFound)
	// Red lists both.
	red := c.token(w.User("red"), "ci", "read")
	page = decodeJSON[api.TestPage](t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/missions/" + m.String() + "/tests", token: red}))
	if len(page.Items) != 2 {
		t.Fatalf("red lists %d tests, want 2", len(page.Items))
	}
}

func TestAPIReadTokenCannotWrite(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API read", "in_progress")
	id := w.Test(t, m, apptest.TestOpts{Name: "Read only"})
	tok := c.token(w.User("lead"), "dashboards", "read")
	got := c.do(apiCall{method: http.MethodPut, path: testPath(m, id, "/red"), token: tok, header: []string{"If-Match", `"1"`},
		json: map[string]any{"command": "nope"}})
	wantStatus(t, got, http.StatusForbidden)
	if !strings.Contains(got.Header().Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("WWW-Authenticate %q", got.Header().Get("WWW-Authenticate"))
	}
	wantStatus(t, c.do(apiCall{method: http.MethodPost, path: api.Base + "/missions", token: tok, json: map[string]any{"name": "x"}}), http.StatusForbidden)
	if v := w.Value(t, `SELECT version FROM mission_tests WHERE id = $1`, id); v != "1" {
		t.Errorf("version %s after refused writes", v)
	}
	// It reads.
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: testPath(m, id, ""), token: tok}), http.StatusOK)
}

func TestAPIAuthentication(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	path := api.Base + "/missions"
	for name, tok := range map[string]string{"none": "", "garbage": "vlt_nope", "wrong": "vlt_" + strings.Repeat("A", 43)} {
		got := c.do(apiCall{method: http.MethodGet, path: path, token: tok})
		if got.Code != http.StatusUnauthorized || !strings.HasPrefix(got.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: status %d, WWW-Authenticate %q", name, got.Code, got.Header().Get("WWW-Authenticate"))
		}
	}
	// A session cookie is not a token: the API ignores cookies.
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.AddCookie(w.Cookie("admin"))
	wantStatus(t, w.App.Do(r), http.StatusUnauthorized)
	// A revoked token stops at once.
	tok := c.token(w.User("red"), "ci", "read")
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: tok}), http.StatusOK)
	w.Exec(t, `UPDATE api_tokens SET revoked_at = now()`)
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: tok}), http.StatusUnauthorized)
}

func TestAPIRateLimitPerToken(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t, apptest.WithAPILimits(api.Limits{PerSecond: 0.01, Burst: 2}))
	c := newAPIClient(t, w.App)
	one, two := c.token(w.User("red"), "one", "read"), c.token(w.User("red"), "two", "read")
	path := api.Base + "/missions"
	for range 2 {
		wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: one}), http.StatusOK)
	}
	got := c.do(apiCall{method: http.MethodGet, path: path, token: one})
	wantStatus(t, got, http.StatusTooManyRequests)
	if ra := got.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	// Another token has its own budget.
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: two}), http.StatusOK)
}

func TestAPIMissions(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	tok := c.token(w.User("lead"), "planner", "red", "read")
	path := api.Base + "/missions"

	// Field errors: from the document, then from the workflow.
	got := c.do(apiCall{method: http.MethodPost, path: path, token: tok, json: map[string]any{"name": "", "colour": "red"}}, true)
	wantStatus(t, got, http.StatusBadRequest)
	p := decodeJSON[api.Problem](t, got)
	if p.Errors == nil || len(*p.Errors) == 0 {
		t.Fatalf("no field errors: %s", got.Body.String())
	}
	got = c.do(apiCall{method: http.MethodPost, path: path, token: tok,
		json: map[string]any{"name": "Q1", "start_date": "2026-12-10", "end_date": "2026-12-01"}})
	wantStatus(t, got, http.StatusUnprocessableEntity)
	p = decodeJSON[api.Problem](t, got)
	if p.Errors == nil || (*p.Errors)[0].Field != "end_date" {
		t.Fatalf("errors %s", got.Body.String())
	}

	for _, name := range []string{"Q1", "Q2", "Q3"} {
		got = c.do(apiCall{method: http.MethodPost, path: path, token: tok, json: map[string]any{"name": name, "labels": []string{"ci"}}})
		wantStatus(t, got, http.StatusCreated)
		if m := decodeJSON[api.Mission](t, got); m.Role != api.MissionRoleLead || got.Header().Get("Location") != path+"/"+m.Id.String() {
			t.Fatalf("created %+v at %q", m, got.Header().Get("Location"))
		}
	}
	// Cursor paging, newest first, every mission once.
	var names []string
	next := ""
	for range 5 {
		q := path + "?limit=2"
		if next != "" {
			q += "&cursor=" + next
		}
		pg := decodeJSON[api.MissionPage](t, c.do(apiCall{method: http.MethodGet, path: q, token: tok}))
		for _, m := range pg.Items {
			names = append(names, m.Name)
		}
		if pg.NextCursor == nil {
			break
		}
		next = *pg.NextCursor
	}
	if strings.Join(names, ",") != "Q3,Q2,Q1" {
		t.Fatalf("paged %v", names)
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path + "?cursor=bogus", token: tok}), http.StatusUnprocessableEntity)

	first := decodeJSON[api.MissionPage](t, c.do(apiCall{method: http.MethodGet, path: path + "?limit=1", token: tok})).Items[0]
	status := path + "/" + first.Id.String() + "/status"
	// Moving a mission is the lead's: a red-scope token may not.
	wantStatus(t, c.do(apiCall{method: http.MethodPost, path: status, token: tok, json: map[string]any{"status": "planned"}}), http.StatusForbidden)
	tok = c.token(w.User("lead"), "lead", "admin")
	got = c.do(apiCall{method: http.MethodPost, path: status, token: tok, json: map[string]any{"status": "planned"}})
	wantStatus(t, got, http.StatusUnprocessableEntity) // an empty plan
	if p := decodeJSON[api.Problem](t, got); p.Detail == nil || !strings.Contains(*p.Detail, "plan") {
		t.Errorf("refused transition: %s", got.Body.String())
	}
	w.Test(t, first.Id, apptest.TestOpts{Name: "Planned"})
	got = c.do(apiCall{method: http.MethodPost, path: status, token: tok, json: map[string]any{"status": "planned"}})
	wantStatus(t, got, http.StatusOK)
	if m := decodeJSON[api.Mission](t, got); m.Status != api.MissionStatusPlanned {
		t.Fatalf("status %s", m.Status)
	}
	// Someone else's mission does not exist for this token.
	other := w.MissionWith(t, "Private", map[string]string{"red": "lead"})
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path + "/" + other.String(), token: tok}), http.StatusNotFound)
}

func TestAPIEvidence(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API evidence", "in_progress")
	id := w.Test(t, m, apptest.TestOpts{Name: "Screenshot", State: missiontest.StateExecuted})
	tok := c.token(w.User("red"), "ci", "red", "read")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "output.txt")
	if err != nil {
		t.Fatal(err)
	}
	content := "whoami\r\nnt authority\\system\r\n"
	io.WriteString(fw, content)
	mw.Close()
	got := c.do(apiCall{method: http.MethodPost, path: testPath(m, id, "/evidence"), token: tok, body: body.Bytes(), contentType: mw.FormDataContentType()})
	wantStatus(t, got, http.StatusCreated)
	up := decodeJSON[struct{ Items []api.Evidence }](t, got)
	if len(up.Items) != 1 || up.Items[0].Size != int64(len(content)) {
		t.Fatalf("uploaded %+v", up.Items)
	}
	list := decodeJSON[struct{ Items []api.Evidence }](t, c.do(apiCall{method: http.MethodGet, path: testPath(m, id, "/evidence"), token: tok}))
	if len(list.Items) != 1 || list.Items[0].Id != up.Items[0].Id {
		t.Fatalf("listed %+v", list.Items)
	}
	got = c.do(apiCall{method: http.MethodGet, path: testPath(m, id, "/evidence/"+up.Items[0].Id.String()), token: tok})
	wantStatus(t, got, http.StatusOK)
	if got.Body.String() != content {
		t.Fatalf("downloaded %q", got.Body.String())
	}
}

func TestAPIDocument(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	got := app.Get(api.Base + "/openapi.json")
	wantStatus(t, got, http.StatusOK)
	doc, err := openapi3.NewLoader().LoadFromData(got.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("OpenAPI %s, want 3.0.3 (what oapi-codegen and kin-openapi both fully support)", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served document: %v", err)
	}
	page := app.Get("/api/docs")
	wantStatus(t, page, http.StatusOK)
	d := apptest.Doc(t, page)
	n := 0
	for _, item := range doc.Paths.Map() {
		n += len(item.Operations())
	}
	if got := d.Find(`[data-testid="api-operation"]`).Length(); got != n || n == 0 {
		t.Errorf("the docs page shows %d operations, the document has %d", got, n)
	}
	if strings.Contains(page.Body.String(), "cdn") || strings.Contains(page.Body.String(), "unpkg") {
		t.Error("the docs page loads something from a CDN")
	}
}

// apiMultipart builds a multipart body of parts (name, file name or "",
// content).
func apiMultipart(t *testing.T, parts ...[3]string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var (
			w   io.Writer
			err error
		)
		if p[1] != "" {
			w, err = mw.CreateFormFile(p[0], p[1])
		} else {
			w, err = mw.CreateFormField(p[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[2])
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func TestAPIExecutionLogs(t *testing.T) {
	t.Parallel()
	w, m := execLogWorld(t)
	c := newAPIClient(t, w.App)
	tok := c.token(w.User("red"), "invoke-atomic", "red")
	path := api.Base + "/missions/" + m.String() + "/executions"
	for _, file := range []string{"attire.json", "invoke-atomic.csv"} {
		data, err := os.ReadFile("../internal/execlog/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		body, ct := apiMultipart(t, [3]string{"file", file, string(data)})
		// A dry run changes nothing.
		before := w.Value(t, `SELECT sum(version) FROM mission_tests WHERE mission_id = $1`, m)
		got := c.do(apiCall{method: http.MethodPost, path: path + "?dry_run=true", token: tok, body: body, contentType: ct})
		wantStatus(t, got, http.StatusOK)
		plan := decodeJSON[api.ExecutionImport](t, got)
		if plan.Applied || len(plan.Items) != 3 || len(plan.Unmatched) != 1 {
			t.Fatalf("%s dry run: %d matched, %d unmatched, applied %v", file, len(plan.Items), len(plan.Unmatched), plan.Applied)
		}
		if after := w.Value(t, `SELECT sum(version) FROM mission_tests WHERE mission_id = $1`, m); after != before {
			t.Fatalf("a dry run changed the tests: versions %s → %s", before, after)
		}
		got = c.do(apiCall{method: http.MethodPost, path: path, token: tok, body: body, contentType: ct})
		wantStatus(t, got, http.StatusOK)
		res := decodeJSON[api.ExecutionImport](t, got)
		if !res.Applied || res.Result == nil || res.Result.Updated != 3 && file == "attire.json" {
			t.Fatalf("%s: %s", file, got.Body.String())
		}
		// The same log again changes nothing.
		versions := w.Value(t, `SELECT sum(version) FROM mission_tests WHERE mission_id = $1`, m)
		files := w.Count(t, `evidence_files`)
		got = c.do(apiCall{method: http.MethodPost, path: path, token: tok, body: body, contentType: ct})
		wantStatus(t, got, http.StatusOK)
		res = decodeJSON[api.ExecutionImport](t, got)
		if res.Result.Updated != 0 || res.Result.Unchanged != 3 || res.Result.Evidence != 0 {
			t.Fatalf("%s again: %+v", file, *res.Result)
		}
		if v := w.Value(t, `SELECT sum(version) FROM mission_tests WHERE mission_id = $1`, m); v != versions || w.Count(t, `evidence_files`) != files {
			t.Fatalf("%s again changed the tests (versions %s → %s) or the evidence", file, versions, v)
		}
	}
	if n := w.Count(t, `mission_tests WHERE mission_id = $1 AND executor <> '' AND target_user <> '' AND started_at IS NOT NULL`, m); n != 3 {
		t.Errorf("%d tests with executor, user and start, want 3", n)
	}
	// Blue records no execution, whatever the token.
	blue := c.token(w.User("blue"), "soc", "admin")
	body, ct := apiMultipart(t, [3]string{"file", "log.csv", "nothing"})
	got := c.do(apiCall{method: http.MethodPost, path: path, token: blue, body: body, contentType: ct})
	if got.Code != http.StatusForbidden && got.Code != http.StatusUnprocessableEntity {
		t.Errorf("blue's import: %d", got.Code)
	}
}

func TestAPIExportsMatchThePages(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API exports", "in_progress")
	w.Test(t, m, apptest.TestOpts{Name: "One", State: missiontest.StateExecuted, Released: true, Technique: "T1059.001", TechniqueName: "PowerShell"})
	w.Test(t, m, apptest.TestOpts{Name: "Two"})
	tok := c.token(w.User("lead"), "archive", "read")
	for _, name := range []string{"tests.csv", "mission.json"} {
		got := c.do(apiCall{method: http.MethodGet, path: api.Base + "/missions/" + m.String() + "/export/" + name, token: tok})
		wantStatus(t, got, http.StatusOK)
		page := w.App.GetAs(w.Cookie("lead"), "/missions/"+m.String()+"/export/"+name)
		wantStatus(t, page, http.StatusOK)
		if name == "tests.csv" && got.Body.String() != page.Body.String() {
			t.Errorf("%s differs between the API and the page", name)
		}
		if got.Body.Len() < 50 || got.Header().Get("Content-Disposition") == "" {
			t.Errorf("%s: %d bytes, disposition %q", name, got.Body.Len(), got.Header().Get("Content-Disposition"))
		}
	}
}

func TestAPIInsightsAndAttack(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	m := w.Mission(t, "API insights", "completed")
	w.Test(t, m, apptest.TestOpts{Name: "Seen", State: missiontest.StateReviewed, Released: true, Level: w.Level(t, "Alerted"),
		Technique: "T1059.001", TechniqueName: "PowerShell"})
	admin := c.token(w.User("admin"), "reports", "read")
	got := c.do(apiCall{method: http.MethodGet, path: api.Base + "/insights", token: admin})
	wantStatus(t, got, http.StatusOK)
	ins := decodeJSON[api.Insights](t, got)
	if len(ins.Missions) != 1 || ins.Missions[0].Id != m {
		t.Fatalf("insights missions %+v", ins.Missions)
	}
	// Someone without insights.read is refused, whatever the scope.
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/insights", token: c.token(w.User("red"), "r", "admin")}), http.StatusForbidden)
	// The catalogue is empty here: an unknown ID is a 404 problem.
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/attack/T1059", token: admin}), http.StatusNotFound)
	got = c.do(apiCall{method: http.MethodGet, path: api.Base + "/attack?q=powershell", token: admin})
	wantStatus(t, got, http.StatusOK)
}

func TestAPIVectrImport(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	tok := c.token(w.User("admin"), "migration", "admin")
	csv := "\ufeffAssessmentGroup,Campaign,Phase,Variant,MitreID,Method,Status,Outcome,DetectingTools,Start Time,Stop Time,Detection Time,Command\n" +
		"Purple 2018,Phishing,Delivery,Macro,T1566.001,Email,Completed,Detected,EDR,2018-01-10T10:00:00.000Z,2018-01-10T10:05:00.000Z,2018-01-10T10:06:00.000Z,\"send\nmail\"\n" +
		"Purple 2018,Phishing,Delivery,Link,T1566.002,Email,Completed,NotDetected,,2018-01-10T11:00:00.000Z,2018-01-10T11:05:00.000Z,,\n" +
		"Purple 2019,C2,Command & Control,HTTPS,T1071.001,Beacon,Completed,Blocked,Proxy,2019-02-01T09:00:00.000Z,2019-02-01T09:30:00.000Z,2019-02-01T09:01:00.000Z,\n"
	body, ct := apiMultipart(t, [3]string{"file", "export.csv", csv})
	path := api.Base + "/library/imports/vectr"
	got := c.do(apiCall{method: http.MethodPost, path: path + "?dry_run=true", token: tok, body: body, contentType: ct})
	wantStatus(t, got, http.StatusOK)
	prop := decodeJSON[api.VectrImport](t, got)
	if prop.Applied || *prop.Assessments != 2 || *prop.Tests != 3 || prop.Mapping.Tools["EDR"].Action != "create" {
		t.Fatalf("proposal %s", got.Body.String())
	}
	if n := w.Count(t, `missions`); n != 0 {
		t.Fatalf("a dry run made %d missions", n)
	}
	got = c.do(apiCall{method: http.MethodPost, path: path, token: tok, body: body, contentType: ct})
	wantStatus(t, got, http.StatusOK)
	if n := w.Count(t, `missions WHERE status = 'completed' AND import_key LIKE 'vectr:%'`); n != 2 {
		t.Fatalf("%d imported missions, want 2: %s", n, got.Body.String())
	}
	tests := w.Count(t, `mission_tests`)
	got = c.do(apiCall{method: http.MethodPost, path: path, token: tok, body: body, contentType: ct})
	wantStatus(t, got, http.StatusOK)
	again := decodeJSON[api.VectrImport](t, got)
	for _, m := range *again.Missions {
		if m.New || m.TestsCreated != 0 {
			t.Errorf("second import: %+v", m)
		}
	}
	if w.Count(t, `mission_tests`) != tests || w.Count(t, `missions`) != 2 {
		t.Error("a second import changed something")
	}
	// A mapping that names a tool that does not exist is refused whole.
	body, ct = apiMultipart(t, [3]string{"file", "export.csv", csv},
		[3]string{"mapping", "", `{"outcomes":{},"tools":{"EDR":{"action":"use","tool_id":"` + uuid.NewString() + `"}}}`})
	got = c.do(apiCall{method: http.MethodPost, path: path, token: tok, body: body, contentType: ct})
	wantStatus(t, got, http.StatusUnprocessableEntity)
	// Someone else who may import, but does not lead those missions,
	// cannot add to them by naming the same assessments.
	body, ct = apiMultipart(t, [3]string{"file", "export.csv", strings.Replace(csv, "Macro", "Macro 2", 1)})
	got = c.do(apiCall{method: http.MethodPost, path: path, token: c.token(w.User("lead"), "other", "admin"), body: body, contentType: ct})
	wantStatus(t, got, http.StatusForbidden)
	if w.Count(t, `mission_tests`) != tests {
		t.Error("a stranger's import added tests to the imported missions")
	}
	// A read token cannot import.
	wantStatus(t, c.do(apiCall{method: http.MethodPost, path: path, token: c.token(w.User("admin"), "ro", "read"), body: body, contentType: ct}), http.StatusForbidden)
}

func TestAPITokensEndWithTheAccount(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	tok := c.token(w.User("red"), "ci", "read")
	path := api.Base + "/missions"
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: tok}), http.StatusOK)
	deactivate := w.App.PostAs(w.Cookie("admin"), "/admin/users/"+w.User("red").String()+"/deactivate", nil)
	if deactivate.Code >= 400 {
		t.Fatalf("deactivate: %d", deactivate.Code)
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: tok}), http.StatusUnauthorized)
	// Bringing the account back does not bring its tokens back.
	w.App.PostAs(w.Cookie("admin"), "/admin/users/"+w.User("red").String()+"/reactivate", nil)
	if n := w.Count(t, `users WHERE id = $1 AND is_active`, w.User("red")); n != 1 {
		t.Fatal("not reactivated")
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: path, token: tok}), http.StatusUnauthorized)
}

func TestAPIMissionArchiveBetweenInstances(t *testing.T) {
	t.Parallel()
	// One clock for both instances: the JSON export says when it was made.
	at := time.Now().UTC().Truncate(time.Second)
	now := apptest.WithNow(func() time.Time { return at })
	from, to := apptest.NewWorld(t, now), apptest.NewWorld(t, now)
	cf, ct := newAPIClient(t, from.App), newAPIClient(t, to.App)
	m := from.Mission(t, "Portable", "in_progress")
	from.Test(t, m, apptest.TestOpts{Name: "Ran", State: missiontest.StateReviewed, Released: true, Level: from.Level(t, "Alerted"),
		Technique: "T1059.001", TechniqueName: "PowerShell"})
	from.Test(t, m, apptest.TestOpts{Name: "Waits"})
	src := cf.token(from.User("lead"), "export", "read")
	got := cf.do(apiCall{method: http.MethodGet, path: api.Base + "/missions/" + m.String() + "/archive", token: src})
	wantStatus(t, got, http.StatusOK)
	archive := got.Body.String()

	// The lead imports it: a member of the mission, so the import adds
	// nobody (an importer who is not becomes its lead).
	admin := ct.token(to.User("lead"), "import", "admin")
	body, ctype := apiMultipart(t, [3]string{"archive", "portable.zip", archive})
	path := api.Base + "/missions/import"
	got = ct.do(apiCall{method: http.MethodPost, path: path + "?dry_run=true", token: admin, body: body, contentType: ctype})
	wantStatus(t, got, http.StatusOK)
	if plan := decodeJSON[api.MissionImport](t, got); plan.Applied || plan.Tests != 2 || len(plan.Members) != 4 {
		t.Fatalf("dry run: %s", got.Body.String())
	}
	got = ct.do(apiCall{method: http.MethodPost, path: path, token: admin, body: body, contentType: ctype})
	wantStatus(t, got, http.StatusCreated)
	imported := decodeJSON[api.MissionImport](t, got)
	// The same archive again is refused.
	wantStatus(t, ct.do(apiCall{method: http.MethodPost, path: path, token: admin, body: body, contentType: ctype}), http.StatusConflict)
	// A damaged one is refused whole, with the reason.
	bad, btype := apiMultipart(t, [3]string{"archive", "bad.zip", archive[:len(archive)/2]})
	got = ct.do(apiCall{method: http.MethodPost, path: path, token: admin, body: bad, contentType: btype})
	wantStatus(t, got, http.StatusUnprocessableEntity)

	// The lead of both instances exports the same bytes.
	dst := ct.token(to.User("lead"), "export", "read")
	for _, name := range []string{"tests.csv", "mission.json"} {
		a := cf.do(apiCall{method: http.MethodGet, path: api.Base + "/missions/" + m.String() + "/export/" + name, token: src})
		b := ct.do(apiCall{method: http.MethodGet, path: api.Base + "/missions/" + imported.MissionId.String() + "/export/" + name, token: dst})
		wantStatus(t, a, http.StatusOK)
		wantStatus(t, b, http.StatusOK)
		if a.Body.String() != b.Body.String() {
			t.Errorf("%s differs between the instances:\n%s\n---\n%s", name, a.Body.String(), b.Body.String())
		}
	}
}

func TestAPILibrary(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	tok := c.token(w.User("red"), "library", "library")

	// The catalogue is empty here: an ATT&CK ID it lacks is a field error.
	got := c.do(apiCall{method: http.MethodPost, path: api.Base + "/templates", token: tok,
		json: map[string]any{"name": "Kerberoasting", "attack_ids": []string{"T1558.003"}}})
	wantStatus(t, got, http.StatusUnprocessableEntity)
	if p := decodeJSON[api.Problem](t, got); p.Errors == nil || (*p.Errors)[0].Field != "attack_ids" {
		t.Fatalf("errors: %s", got.Body.String())
	}
	got = c.do(apiCall{method: http.MethodPost, path: api.Base + "/templates", token: tok,
		json: map[string]any{"name": "Kerberoasting", "procedure": "Rubeus.exe kerberoast", "platforms": []string{"Windows"},
			"opsec": "high", "labels": []string{"ad"}}})
	wantStatus(t, got, http.StatusCreated)
	tpl := decodeJSON[api.Template](t, got)
	if tpl.Source != "manual" || tpl.Opsec != "high" || len(tpl.Labels) != 1 {
		t.Fatalf("template %+v", tpl)
	}
	list := decodeJSON[api.TemplatePage](t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/templates?q=kerber", token: tok}))
	if list.Total != 1 || list.Items[0].Id != tpl.Id {
		t.Fatalf("list %+v", list)
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/templates/" + tpl.Id.String(), token: tok}), http.StatusOK)

	got = c.do(apiCall{method: http.MethodPost, path: api.Base + "/scenarios", token: tok,
		json: map[string]any{"name": "AD week", "template_ids": []string{tpl.Id.String()}}})
	wantStatus(t, got, http.StatusCreated)
	sc := decodeJSON[api.Scenario](t, got)
	if len(sc.Tests) != 1 || sc.Tests[0].TemplateId != tpl.Id {
		t.Fatalf("scenario %+v", sc)
	}
	scs := decodeJSON[api.ScenarioPage](t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/scenarios", token: tok}))
	if scs.Total != 1 || scs.Items[0].Tests != 1 {
		t.Fatalf("scenarios %+v", scs)
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/scenarios/" + sc.Id.String(), token: tok}), http.StatusOK)

	// Atomic files import in the background; the job says how it went.
	data, err := os.ReadFile("../../shared/data/atomic-red-team/atomics/T1012/T1012.yaml")
	if err != nil {
		t.Skipf("no Atomic Red Team files here: %v", err)
	}
	body, ct := apiMultipart(t, [3]string{"files", "T1012.yaml", string(data)})
	got = c.do(apiCall{method: http.MethodPost, path: api.Base + "/library/imports", token: tok, body: body, contentType: ct})
	wantStatus(t, got, http.StatusAccepted)
	job := decodeJSON[api.Job](t, got)
	if got.Header().Get("Location") != api.Base+"/jobs/"+job.Id.String() {
		t.Fatalf("Location %q", got.Header().Get("Location"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for job.Status == api.JobStatusRunning && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		job = decodeJSON[api.Job](t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/jobs/" + job.Id.String(), token: tok}))
	}
	if job.Status != api.JobStatusSucceeded || job.Added == nil || *job.Added == 0 {
		t.Fatalf("job %+v", job)
	}
	// A red-scope token does not write the library.
	red := c.token(w.User("red"), "red", "red")
	wantStatus(t, c.do(apiCall{method: http.MethodPost, path: api.Base + "/templates", token: red, json: map[string]any{"name": "x"}}), http.StatusForbidden)
}

func TestAPIAttackSync(t *testing.T) {
	t.Parallel()
	w := apptest.NewWorld(t)
	c := newAPIClient(t, w.App)
	data, err := os.ReadFile(miniBundle)
	if err != nil {
		t.Fatal(err)
	}
	admin := c.token(w.User("admin"), "attack", "admin")
	body, ct := apiMultipart(t, [3]string{"bundle", "mini.json", string(data)})
	// The sync is an admin's: a red member's admin-scoped token is refused.
	wantStatus(t, c.do(apiCall{method: http.MethodPost, path: api.Base + "/attack/syncs", token: c.token(w.User("red"), "r", "admin"),
		body: body, contentType: ct}), http.StatusForbidden)
	got := c.do(apiCall{method: http.MethodPost, path: api.Base + "/attack/syncs", token: admin, body: body, contentType: ct})
	wantStatus(t, got, http.StatusAccepted)
	sync := decodeJSON[api.AttackSync](t, got)
	deadline := time.Now().Add(30 * time.Second)
	for sync.Status == api.AttackSyncStatusRunning && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		sync = decodeJSON[api.AttackSync](t, c.do(apiCall{method: http.MethodGet, path: got.Header().Get("Location"), token: admin}))
	}
	if sync.Status != api.AttackSyncStatusSucceeded || sync.Added == 0 {
		t.Fatalf("sync %+v", sync)
	}
	// The catalogue now answers lookups.
	hits := decodeJSON[struct {
		Items []api.AttackHit `json:"items"`
	}](t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/attack?q=T1", token: admin}))
	if len(hits.Items) == 0 {
		t.Fatal("no hit after the sync")
	}
	wantStatus(t, c.do(apiCall{method: http.MethodGet, path: api.Base + "/attack/" + hits.Items[0].ExternalId, token: admin}), http.StatusOK)
}
