package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"violet/internal/testkit/apptest"
)

// TestInvitationUnderSSORequired: with single sign-on required, accepting
// an invitation creates the account with its password but opens no
// session (that password session would be the way around the policy); the
// sign-in page then says the account is ready and to use single sign-on.
func TestInvitationUnderSSORequired(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	token := invAdminToken(t, app, "", "redteam")
	if _, err := app.DB.Exec(`UPDATE settings SET value = 'true' WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("new@example.com", "New Person"))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("accept: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if c := invSession(app, w); c != nil {
		t.Error("a session cookie under the policy")
	}
	if n := invCount(t, app, `SELECT count(*) FROM users WHERE email = 'new@example.com' AND password_hash <> ''`); n != 1 {
		t.Errorf("%d accounts with their password, want 1", n)
	}
	if n := invCount(t, app, `SELECT count(*) FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id WHERE u.email = 'new@example.com'`); n != 0 {
		t.Errorf("%d sessions opened", n)
	}
	if n := invCount(t, app, `SELECT count(*) FROM invitations WHERE consumed_at IS NOT NULL`); n != 1 {
		t.Errorf("%d invitations used, want 1", n)
	}
	req := httptest.NewRequest(http.MethodGet, "/login", nil)
	for _, c := range w.Result().Cookies() {
		req.AddCookie(c)
	}
	page := app.Do(req)
	if got := doc(t, page).Find(`[data-testid="flashes"]`).Text(); !strings.Contains(got, "requires single sign-on") {
		t.Errorf("the sign-in page says %q", got)
	}
}
