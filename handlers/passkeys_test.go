package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"violet/internal/testkit/apptest"
)

// TestPasskeyLoginCeremony: the options of a sign-in with a passkey ask
// user verification, for the relying party BASE_URL names, with the
// ceremony in a sealed HttpOnly SameSite=Strict cookie; an answer without
// a ceremony, or with one spent, is refused with a message and the cookie
// cleared.
func TestPasskeyLoginCeremony(t *testing.T) {
	app := apptest.New(t)
	r := app.Do(httptest.NewRequest(http.MethodPost, "/login/passkey", nil))
	if r.Code != http.StatusOK {
		t.Fatalf("begin: %d %s", r.Code, r.Body)
	}
	var opts struct {
		PublicKey struct {
			Challenge        string `json:"challenge"`
			RPID             string `json:"rpId"`
			UserVerification string `json:"userVerification"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(r.Body.Bytes(), &opts); err != nil || opts.PublicKey.Challenge == "" ||
		opts.PublicKey.RPID != "localhost" || opts.PublicKey.UserVerification != "required" {
		t.Fatalf("options %s: %v", r.Body, err)
	}
	ck := r.Result().Cookies()
	if len(ck) != 1 || ck[0].Name != "violet_webauthn" || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].MaxAge != 300 {
		t.Fatalf("cookie %+v", ck)
	}
	finish := func(cookie *http.Cookie) *httptest.ResponseRecorder {
		form := url.Values{"credential": {`{}`}}
		req := httptest.NewRequest(http.MethodPost, "/login/passkey/finish", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		return app.Do(req)
	}
	if r := finish(nil); r.Code != http.StatusBadRequest || !strings.Contains(r.Body.String(), `"error"`) {
		t.Errorf("no ceremony: %d %s", r.Code, r.Body)
	}
	r = finish(ck[0])
	if r.Code != http.StatusUnauthorized || !strings.Contains(r.Body.String(), "could not sign you in") {
		t.Errorf("bad answer: %d %s", r.Code, r.Body)
	}
	if got := r.Result().Cookies(); len(got) == 0 || got[0].MaxAge >= 0 {
		t.Errorf("the ceremony's cookie is not cleared: %+v", got)
	}
	// The second step needs a pending sign-in.
	if r := app.Do(httptest.NewRequest(http.MethodPost, "/login/second-factor/passkey", nil)); r.Code != http.StatusBadRequest ||
		!strings.Contains(r.Body.String(), `"redirect":"/login"`) {
		t.Errorf("second step without a pending sign-in: %d %s", r.Code, r.Body)
	}
}
