package sso

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"violet/internal/admission"
	"violet/internal/config"
)

func testProvider(t *testing.T, secure bool) *Provider {
	t.Helper()
	base, _ := url.Parse("https://violet.example.org")
	p, err := New(config.OIDC{Key: "corp", Issuer: "https://idp.example.org", ClientID: "violet", ClientSecret: "s",
		Name: "Corp"}, bytes.Repeat([]byte{7}, 32), secure, base, nil, nil)
	if err != nil || p == nil {
		t.Fatalf("New: %v, %v", p, err)
	}
	return p
}

// Off without an issuer; a nil provider offers nothing and logs out
// nowhere.
func TestNewOff(t *testing.T) {
	p, err := New(config.OIDC{}, bytes.Repeat([]byte{7}, 32), false, nil, nil, nil)
	if p != nil || err != nil {
		t.Fatalf("New without issuer = %v, %v", p, err)
	}
	if p.Buttons("/") != nil || p.LogoutURL("oidc:corp") != "" {
		t.Error("a nil provider offers something")
	}
}

// The state cookie: HttpOnly, SameSite=Lax (the provider's redirect back
// is a cross-site top-level GET), Secure with the __Host- prefix on https,
// sealed (encrypted, not only signed) with a key of its own, and no good
// to another instance's key.
func TestStateCookie(t *testing.T) {
	p := testProvider(t, true)
	c := p.state.cookieOf("v", 600)
	if c.Name != "__Host-violet_oidc" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie %+v", c)
	}
	if c := testProvider(t, false).state.cookieOf("v", 600); c.Name != "violet_oidc" || c.Secure {
		t.Errorf("cookie over http %+v", c)
	}
	v, err := p.state.codec.Encode(p.state.name, stateCookie{Provider: "corp", State: "the-state", Nonce: "the-nonce", Verifier: "the-verifier"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(v), []byte("the-state")) {
		t.Error("the state is readable in the cookie")
	}
	other, _ := New(config.OIDC{Key: "corp", Issuer: "https://idp.example.org", ClientID: "violet", ClientSecret: "s"},
		bytes.Repeat([]byte{8}, 32), true, nil, nil, nil)
	var st stateCookie
	if other.state.codec.Decode(p.state.name, v, &st) == nil {
		t.Error("another session key opened the state cookie")
	}
	if p.state.codec.Decode(p.state.name, v, &st) != nil || st.Nonce != "the-nonce" {
		t.Errorf("decode: %+v", st)
	}
	// Any provider's state reads the cookie: the callback learns from it
	// which provider the browser went to.
	if got := testProvider(t, true).state.ProviderOf(v); got != "corp" {
		t.Errorf("ProviderOf = %q", got)
	}
	if got := other.state.ProviderOf(v); got != "" {
		t.Errorf("ProviderOf with another key = %q", got)
	}
}

func TestClaimReaders(t *testing.T) {
	for v, want := range map[any]bool{true: true, false: false, "true": true, "false": false, nil: false, 1: false} {
		if verified(v) != want {
			t.Errorf("verified(%v) = %v", v, !want)
		}
	}
	if got := stringList([]any{"a", 1, "b"}); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("stringList = %v", got)
	}
	if got := stringList("solo"); len(got) != 1 || got[0] != "solo" {
		t.Errorf("stringList(string) = %v", got)
	}
}

func TestProblemOf(t *testing.T) {
	if s, p, ok := ProblemOf(&admission.Refusal{Key: admission.KeyUnknown}); !ok || s != http.StatusForbidden || p.MessageKey != admission.KeyUnknown {
		t.Errorf("refusal: %d %+v %v", s, p, ok)
	}
	if s, _, ok := ProblemOf(errors.Join(ErrProviderDown, errors.New("dial"))); !ok || s != http.StatusServiceUnavailable {
		t.Errorf("provider down: %d %v", s, ok)
	}
	if _, _, ok := ProblemOf(errors.New("database")); ok {
		t.Error("another error rendered as a sign-on problem")
	}
}
