package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"violet/internal/paths"
	"violet/internal/testkit/sqltrace"
)

// Page is one page or partial the benchmark drives.
type Page struct {
	Mission string // "small" and "big" mark the measured missions' pages (budgets)
	Name    string
	Path    string
	As      string            // "lead", "blue" or "" (anonymous)
	Header  map[string]string // e.g. HX-Request for a partial
	Form    url.Values        // non-nil: POST this form
	Want    int               // expected status
	// NoFloors skips the floors (the login POST, whose cost is argon2id,
	// not SQL or bytes).
	NoFloors bool
}

// Pages lists the pages issue 9 budgets: home, mission list, mission page at
// 10 and 1,000 tests, the test page and its drawer partial, the report, the
// matrix, search, the template list and login.
func Pages(d *Dataset) []Page {
	hx := map[string]string{"HX-Request": "true"}
	big, small := paths.URL(paths.Mission, d.Big), paths.URL(paths.Mission, d.Small)
	test := paths.URL(paths.MissionTest, d.Big, d.DrawerTest)
	return []Page{
		{Name: "home", Path: paths.Home, As: "lead"},
		{Name: "mission list", Path: paths.Missions, As: "lead"},
		{Mission: "small", Name: fmt.Sprintf("mission %d tests", d.Scale.SmallTests), Path: small, As: "lead"},
		{Mission: "big", Name: fmt.Sprintf("mission %d tests", d.Scale.BigTests), Path: big, As: "lead"},
		{Name: fmt.Sprintf("mission %d tests (blue)", d.Scale.BigTests), Path: big, As: "blue"},
		{Name: "test page", Path: test, As: "lead"},
		{Name: "test drawer (htmx)", Path: test, As: "lead", Header: hx},
		{Name: fmt.Sprintf("report %d tests", d.Scale.BigTests), Path: paths.URL(paths.MissionReport, d.Big), As: "lead"},
		{Name: fmt.Sprintf("timeline %d tests", d.Scale.BigTests), Path: paths.URL(paths.MissionTimeline, d.Big), As: "lead"},
		{Name: "insights", Path: paths.Insights, As: "lead"},
		{Name: "ATT&CK matrix", Path: paths.Attack, As: "lead"},
		{Name: "ATT&CK search (htmx)", Path: paths.Query(paths.AttackSearch, "q", "powershell"), As: "lead", Header: hx},
		{Name: "ATT&CK entry", Path: paths.URL(paths.AttackEntry, d.TechniqueID), As: "lead"},
		{Name: "template list", Path: paths.Templates, As: "lead"},
		{Name: "notification bell (htmx)", Path: paths.NotificationsBell, As: "lead", Header: hx},
		{Name: "login page", Path: paths.Login},
		{Name: "login (POST, argon2id)", Path: paths.Login, Form: url.Values{"email": {d.LeadEmail}, "password": {Password}},
			Want: http.StatusSeeOther, NoFloors: true},
	}
}

// Client sends the pages' requests to one Violet over HTTP.
type Client struct {
	Base    string
	HTTP    *http.Client
	Cookies map[string]string // role → Cookie header value
}

// NewClient returns a client for base with enough idle connections for
// the highest concurrency, never following redirects (a 303 is an answer).
func NewClient(base string, conns int) *Client {
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: 0,
		IdleConnTimeout: time.Minute, DisableCompression: true}
	return &Client{Base: base, Cookies: map[string]string{}, HTTP: &http.Client{
		Transport:     tr,
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Login signs email in and keeps its session cookie under role.
func (c *Client) Login(ctx context.Context, role, email, password string) error {
	res, _, err := c.do(ctx, Page{Path: paths.Login, Form: url.Values{"email": {email}, "password": {password}}})
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("login %s: status %d", email, res.StatusCode)
	}
	var pairs []string
	for _, ck := range res.Cookies() {
		pairs = append(pairs, ck.Name+"="+ck.Value)
	}
	if len(pairs) == 0 {
		return errors.New("login " + email + ": no session cookie")
	}
	c.Cookies[role] = strings.Join(pairs, "; ")
	return nil
}

// do sends p and reads the whole body; it returns the body's size.
func (c *Client) do(ctx context.Context, p Page) (*http.Response, int64, error) {
	method, body := http.MethodGet, io.Reader(nil)
	if p.Form != nil {
		method, body = http.MethodPost, strings.NewReader(p.Form.Encode())
	}
	r, err := http.NewRequestWithContext(ctx, method, c.Base+p.Path, body)
	if err != nil {
		return nil, 0, err
	}
	if p.Form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range p.Header {
		r.Header.Set(k, v)
	}
	if p.As != "" {
		r.Header.Set("Cookie", c.Cookies[p.As])
	}
	res, err := c.HTTP.Do(r)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	return res, n, err
}

// Op returns the operation sending p and checking its status.
func (c *Client) Op(p Page) func(context.Context) error {
	want := p.Want
	if want == 0 {
		want = http.StatusOK
	}
	return func(ctx context.Context) error {
		res, _, err := c.do(ctx, p)
		if err != nil {
			return err
		}
		if res.StatusCode != want {
			return fmt.Errorf("%s %s: status %d, want %d", p.Name, p.Path, res.StatusCode, want)
		}
		return nil
	}
}

// Capture sends p once, alone, recording the statements it runs. It
// returns the status, the body size and the statements.
func (c *Client) Capture(ctx context.Context, counter *sqltrace.Counter, p Page) (int, int64, []sqltrace.Statement, error) {
	stop := counter.Record()
	res, n, err := c.do(ctx, p)
	stmts := stop()
	if err != nil {
		return 0, 0, nil, err
	}
	return res.StatusCode, n, stmts, nil
}

// countDuring returns how many statements counter saw while fn ran.
func countDuring(counter *sqltrace.Counter, fn func()) int64 {
	before := counter.Count()
	fn()
	return counter.Count() - before
}
