package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"violet/internal/config"
)

// fakeIssuer serves a discovery document once up is true (500 before),
// counting the requests; endSession is its end_session_endpoint.
type fakeIssuer struct {
	*httptest.Server
	up         atomic.Bool
	hits       atomic.Int32
	mu         sync.Mutex
	endSession string
}

func startFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if !f.up.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		end := f.endSession
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": f.URL, "authorization_endpoint": f.URL + "/auth",
			"token_endpoint": f.URL + "/token", "jwks_uri": f.URL + "/jwks", "end_session_endpoint": end,
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	}))
	t.Cleanup(f.Close)
	return f
}

func providerAt(t *testing.T, issuer string) *Provider {
	t.Helper()
	p, err := New(config.OIDC{Key: "corp", Issuer: issuer, ClientID: "violet", ClientSecret: "s", Name: "Corp"},
		bytes.Repeat([]byte{7}, 32), false, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A failed discovery is remembered for retryAfter: sign-ins meanwhile
// fail at once without asking the provider; the first after it asks
// again, and a provider that answered is not asked again.
func TestDiscoverRemembersFailure(t *testing.T) {
	f := startFakeIssuer(t)
	p := providerAt(t, f.URL)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if _, err := p.discover(ctx, t0); !errors.Is(err, ErrProviderDown) || f.hits.Load() != 1 {
		t.Fatalf("first discovery: %v, %d requests", err, f.hits.Load())
	}
	if _, err := p.discover(ctx, t0.Add(retryAfter-time.Second)); !errors.Is(err, ErrProviderDown) || f.hits.Load() != 1 {
		t.Fatalf("within %s: %v, %d requests, want the remembered failure", retryAfter, err, f.hits.Load())
	}
	f.up.Store(true)
	if _, err := p.discover(ctx, t0.Add(retryAfter-time.Second)); err == nil {
		t.Fatal("the failure was forgotten early")
	}
	d, err := p.discover(ctx, t0.Add(retryAfter))
	if err != nil || d == nil || f.hits.Load() != 2 {
		t.Fatalf("after %s: %v, %d requests", retryAfter, err, f.hits.Load())
	}
	if _, err := p.discover(ctx, t0.Add(retryAfter)); err != nil || f.hits.Load() != 2 {
		t.Errorf("discovered provider asked again: %v, %d requests", err, f.hits.Load())
	}
}

// A sign-in waiting for another's discovery gives up with its request;
// a request that went away is no failure of the provider's to remember.
func TestDiscoverRespectsTheRequest(t *testing.T) {
	f := startFakeIssuer(t)
	f.up.Store(true)
	p := providerAt(t, f.URL)
	now := time.Now()

	p.sem <- struct{}{} // a discovery in progress
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	start := time.Now()
	_, err := p.discover(ctx, now)
	cancel()
	if !errors.Is(err, ErrProviderDown) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("waiting sign-in: %v after %s", err, time.Since(start))
	}
	<-p.sem

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.discover(gone, now); err == nil {
		t.Fatal("a cancelled request discovered")
	}
	if _, err := p.discover(context.Background(), now); err != nil {
		t.Errorf("the cancelled request's failure was remembered: %v", err)
	}
}

// Signing out goes to the discovery's end_session_endpoint only when it
// is an absolute https URL (http on loopback).
func TestEndSessionMustBeSecure(t *testing.T) {
	for end, want := range map[string]bool{
		"https://idp.example.org/logout": true, "http://127.0.0.1:9/logout": true,
		"http://idp.example.org/logout": false, "javascript:alert(1)": false, "/logout": false, "": false,
	} {
		f := startFakeIssuer(t)
		f.up.Store(true)
		f.endSession = end
		p := providerAt(t, f.URL)
		if _, err := p.discover(context.Background(), time.Now()); err != nil {
			t.Fatal(err)
		}
		got := p.LogoutURL(p.Method())
		if (got != "") != want {
			t.Errorf("end_session_endpoint %q: logout URL %q", end, got)
		}
		if u, _ := url.Parse(got); want && (u.Query().Get("client_id") != "violet" || u.Host != mustHost(end)) {
			t.Errorf("end_session_endpoint %q: logout URL %q", end, got)
		}
	}
}

func mustHost(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

// The e-mail and its email_verified come from one source; the groups
// claim is present (even empty) or absent, and Entra ID's overage
// (_claim_names) counts as absent.
func TestReadClaims(t *testing.T) {
	tests := []struct {
		name        string
		token, info map[string]any
		email       string
		groups      []string
		hasGroups   bool
	}{
		{"token vouches for its own e-mail", map[string]any{"email": "a@x.test", "email_verified": true, "groups": []any{"g"}}, nil,
			"a@x.test", []string{"g"}, true},
		{"user info does not vouch for the token's e-mail",
			map[string]any{"email": "a@x.test"}, map[string]any{"email": "b@y.test", "email_verified": true},
			"", nil, false},
		{"user info's verified e-mail when the token has none",
			map[string]any{}, map[string]any{"email": "b@y.test", "email_verified": "true", "groups": []any{}},
			"b@y.test", []string{}, true},
		{"user info's e-mail unverified", map[string]any{}, map[string]any{"email": "b@y.test"}, "", nil, false},
		{"Entra's xms_edov", map[string]any{"email": "a@x.test", "xms_edov": true}, nil, "a@x.test", nil, false},
		{"groups from user info", map[string]any{}, map[string]any{"groups": "solo"}, "", []string{"solo"}, true},
		{"null groups", map[string]any{"groups": nil}, nil, "", nil, false},
		{"overage", map[string]any{"_claim_names": map[string]any{"groups": "src1"},
			"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph.example/x"}}}, nil, "", nil, false},
		{"overage in the token, groups in user info",
			map[string]any{"_claim_names": map[string]any{"groups": "src1"}}, map[string]any{"groups": []any{"u"}},
			"", []string{"u"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readClaims("iss", "sub", tt.token, tt.info, "groups")
			if c.Email != tt.email || c.HasGroups != tt.hasGroups || !slices.Equal(c.Groups, tt.groups) {
				t.Errorf("claims %+v, want email %q groups %v (present %v)", c, tt.email, tt.groups, tt.hasGroups)
			}
		})
	}
}
