package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"violet/ent/user"
	"violet/internal/auth/rule"
	"violet/internal/testkit/apptest"
)

// lookAlikes are the addresses of issue 16, defect 8: admin@example.com
// with a zero-width space, with a word joiner, and with a Cyrillic а.
var lookAlikes = []struct{ name, email, message string }{
	{"zero-width space", "ad\u200bmin@example.com", "invisible"},
	{"word joiner", "admin\u2060@example.com", "invisible"},
	{"cyrillic a", "\u0430dmin@example.com", "looks like the address of another account"},
}

// idUsers counts the accounts, deleted ones included.
func idUsers(t *testing.T, app *apptest.App) int {
	return invCount(t, app, `SELECT count(*) FROM users`)
}

// idMake creates an account directly, as one made before addresses and
// names were checked would be.
func idMake(t *testing.T, app *apptest.App, email, name string) {
	t.Helper()
	err := app.Ent.User.Create().SetEmail(email).SetDisplayName(name).SetPasswordHash("x").
		Exec(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
}

// TestLookAlikeEmailsRefused: none of the look-alikes of the defect makes
// an account, neither through an administrator's invitation naming it
// nor typed at acceptance; the refusal is next to the field, with the
// input kept, and the invitation stays usable.
func TestLookAlikeEmailsRefused(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	root := app.SignedIn(t, "admin@example.com", "admin")
	for _, tc := range lookAlikes {
		t.Run(tc.name, func(t *testing.T) {
			w := invCreate(app, root, tc.email, "72", invGroupIDs(t, app, "observer")...)
			d := doc(t, w)
			if w.Code != http.StatusUnprocessableEntity || !strings.Contains(testid(d, "error-email_hint"), tc.message) {
				t.Errorf("invitation for %q: %d, error %q; want 422 saying %q", tc.email, w.Code, testid(d, "error-email_hint"), tc.message)
			}
			if v, _ := d.Find(`input[name="email_hint"]`).Attr("value"); v != tc.email {
				t.Errorf("the form kept %q, want %q", v, tc.email)
			}
			if n := invCount(t, app, `SELECT count(*) FROM invitations WHERE email_hint <> ''`); n != 0 {
				t.Errorf("%d invitations with an address were made", n)
			}

			token := invAdminToken(t, app, "", "observer")
			before := idUsers(t, app)
			w = app.PostAs(nil, "/invitations/"+token, invAcceptForm(tc.email, "Eve "+tc.name))
			d = doc(t, w)
			if w.Code != http.StatusUnprocessableEntity || !strings.Contains(testid(d, "error-email"), tc.message) {
				t.Errorf("acceptance as %q: %d, error %q; want 422 saying %q", tc.email, w.Code, testid(d, "error-email"), tc.message)
			}
			if v, _ := d.Find(`input[name="email"]`).Attr("value"); v != tc.email {
				t.Errorf("the form kept %q, want %q", v, tc.email)
			}
			if v, _ := d.Find(`input[name="display_name"]`).Attr("value"); v != "Eve "+tc.name {
				t.Errorf("the form kept the name %q", v)
			}
			if n := idUsers(t, app); n != before {
				t.Errorf("%d accounts after, %d before: a look-alike was made", n, before)
			}
			// The invitation was not used up: a proper address still works.
			ok := "eve." + strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			if w := app.PostAs(nil, "/invitations/"+token, invAcceptForm(ok, "Eve "+tc.name)); w.Code != http.StatusSeeOther {
				t.Errorf("acceptance as %s afterwards: %d, want 303", ok, w.Code)
			}
		})
	}
}

// TestEmailVariantsAreOneAccount: fullwidth and upper-case forms of an
// address are that address: they sign in to its account and cannot make
// a second one; a new account's address is stored normalised.
func TestEmailVariantsAreOneAccount(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "admin@example.com", "admin")
	for _, variant := range []string{"ＡＤＭＩＮ@ＥＸＡＭＰＬＥ.ＣＯＭ", "Admin@Example.COM", " admin@example.com "} {
		app.Login(t, variant, apptest.Password) // fails the test unless signed in

		token := invAdminToken(t, app, "", "observer")
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm(variant, "Someone Else"))
		if got := testid(doc(t, w), "error-email"); w.Code != http.StatusUnprocessableEntity || !strings.Contains(got, "already uses") {
			t.Errorf("acceptance as %q: %d, error %q; want 422, address taken", variant, w.Code, got)
		}
	}

	token := invAdminToken(t, app, "", "observer")
	if w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("Ｎｅｗ.Ｐｅｒｓｏｎ@ＥＸＡＭＰＬＥ.com", "  New   Person ")); w.Code != http.StatusSeeOther {
		t.Fatalf("acceptance with a fullwidth address: %d\n%s", w.Code, w.Body)
	}
	u, err := app.Ent.User.Query().Where(user.Email("new.person@example.com")).Only(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatalf("the account is not stored under its normal form: %v", err)
	}
	if u.DisplayName != "New Person" {
		t.Errorf("display name stored as %q, want %q", u.DisplayName, "New Person")
	}
	app.Login(t, "NEW.PERSON@example.com", "a long enough passphrase")
}

// TestLookAlikeDisplayNamesRefused: a display name that reads like an
// existing account's (case, a Cyrillic letter) is refused at acceptance
// and in the profile, next to the field with the input kept; so is one
// with an invisible character.
func TestLookAlikeDisplayNamesRefused(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	app.User(t, "admin@example.com", "admin") // named "admin"
	for i, name := range []string{"Admin", "\u0410dmin", "ADMIN", "  admin "} {
		token := invAdminToken(t, app, "", "observer")
		before := idUsers(t, app)
		w := app.PostAs(nil, "/invitations/"+token, invAcceptForm("eve"+strconv.Itoa(i)+"@example.com", name))
		d := doc(t, w)
		if got := testid(d, "error-display_name"); w.Code != http.StatusUnprocessableEntity || !strings.Contains(got, "looks the same") {
			t.Errorf("acceptance named %q: %d, error %q; want 422, name looks like another", name, w.Code, got)
		}
		if v, _ := d.Find(`input[name="display_name"]`).Attr("value"); v != name {
			t.Errorf("the form kept %q, want %q", v, name)
		}
		if n := idUsers(t, app); n != before {
			t.Errorf("an account named %q was made", name)
		}
	}

	// Both fields clash: both say so.
	token := invAdminToken(t, app, "", "observer")
	d := doc(t, app.PostAs(nil, "/invitations/"+token, invAcceptForm("\u0430dmin@example.com", "\u0410dmin")))
	if testid(d, "error-email") == "" || testid(d, "error-display_name") == "" {
		t.Errorf("address and name both look alike: errors %q and %q", testid(d, "error-email"), testid(d, "error-display_name"))
	}

	eve := app.SignedIn(t, "eve@example.com", "observer") // named "eve"
	for _, tc := range []struct{ name, message string }{
		{"\u0410dmin", "looks the same"},
		{"Ad\u200bmin", "invisible"},
		{"Eve\u202e", "invisible"},
	} {
		w := app.PostAs(eve, "/account/profile", url.Values{"display_name": {tc.name}, "locale": {"en"}})
		d := doc(t, w)
		if got := testid(d, "error-display_name"); w.Code != http.StatusUnprocessableEntity || !strings.Contains(got, tc.message) {
			t.Errorf("profile named %q: %d, error %q; want 422 saying %q", tc.name, w.Code, got, tc.message)
		}
		if v, _ := d.Find(`input[name="display_name"]`).Attr("value"); v != tc.name {
			t.Errorf("the form kept %q, want %q", v, tc.name)
		}
	}
	if w := app.PostAs(eve, "/account/profile", url.Values{"display_name": {" Eve\u3000 Smith "}, "locale": {"en"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("a proper name: %d", w.Code)
	}
	if n := invCount(t, app, `SELECT count(*) FROM users WHERE email = 'eve@example.com' AND display_name = 'Eve Smith'`); n != 1 {
		t.Error("the new name is not stored normalised")
	}
}

// TestLookAlikeAcceptancesAtOnce: look-alike names accepted at the same
// moment on different links make one account, not several. (The lock
// that guarantees it whatever the timing is proven on its own by
// identity's TestLockSerialisesChecks.)
func TestLookAlikeAcceptancesAtOnce(t *testing.T) {
	app := apptest.New(t)
	names := []string{"Zed", "ZED", "Z\u0435d", "zed", "Z\u0435D", "ＺＥＤ"}
	tokens := make([]string, len(names))
	for i := range names {
		tokens[i] = invAdminToken(t, app, "", "observer")
	}
	codes := make([]int, len(names))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, name := range names {
		wg.Go(func() {
			<-start
			email := "zed" + strconv.Itoa(i) + "@example.com"
			codes[i] = app.PostAs(nil, "/invitations/"+tokens[i], invAcceptForm(email, name)).Code
		})
	}
	close(start)
	wg.Wait()
	made := 0
	for _, c := range codes {
		if c == http.StatusSeeOther {
			made++
		}
	}
	if made != 1 {
		t.Errorf("statuses %v: %d accounts made, want 1", codes, made)
	}
}

// TestUsersListFlagsMixedScript: an address or a name mixing Latin and
// Cyrillic letters (made before the checks) carries a visible badge in
// the users list and on the user's page; plain ones do not.
func TestUsersListFlagsMixedScript(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	root := app.SignedIn(t, "root@example.com", "admin")
	idMake(t, app, "\u0430dmin@example.com", "Admin")
	idMake(t, app, "mallory@example.com", "\u0410dmin")
	idMake(t, app, "ivan@example.com", "Иван Petrov")

	flags := map[string][]string{}
	ids := map[string]string{}
	doc(t, app.GetAs(root, "/admin/users")).Find(`[data-testid="user-row"]`).Each(func(_ int, row *goquery.Selection) {
		email := row.AttrOr("data-email", "")
		ids[email] = strings.TrimPrefix(row.Find(`[data-testid="user-link"]`).AttrOr("href", ""), "/admin/users/")
		row.Find(`[data-testid="mixed-script"]`).Each(func(_ int, b *goquery.Selection) {
			if strings.TrimSpace(b.Text()) == "" {
				t.Errorf("%s: an empty badge", email)
			}
			flags[email] = append(flags[email], b.AttrOr("data-field", ""))
		})
	})
	want := map[string]string{
		"\u0430dmin@example.com": "email", "mallory@example.com": "display_name",
		"ivan@example.com": "", "root@example.com": "",
	}
	for email, field := range want {
		got := strings.Join(flags[email], ",")
		if got != field {
			t.Errorf("%s flagged %q, want %q", email, got, field)
		}
	}
	page := doc(t, app.GetAs(root, "/admin/users/"+ids["mallory@example.com"]))
	if page.Find(`[data-testid="user-display-name"] [data-testid="mixed-script"]`).Length() != 1 {
		t.Error("the user page does not flag the name")
	}
}

// TestRestoreRefusesLookAlike: a deleted account is not restored while
// another account has a look-alike of its address or name.
func TestRestoreRefusesLookAlike(t *testing.T) {
	t.Parallel()
	app := apptest.New(t)
	root := app.SignedIn(t, "root@example.com", "admin")
	for _, tc := range []struct{ email, name, otherEmail, otherName, message string }{
		{"bob@example.com", "Bob", "b\u043eb@example.com", "Robert", "address that looks like"},
		{"carol@example.com", "Carol", "carol.new@example.com", "C\u0430rol", "name that looks like"},
	} {
		idMake(t, app, tc.email, tc.name)
		id := invUserID(t, app, tc.email)
		if w := app.PostAs(root, "/admin/users/"+id+"/delete", nil); w.Code != http.StatusSeeOther {
			t.Fatalf("delete %s: %d", tc.email, w.Code)
		}
		idMake(t, app, tc.otherEmail, tc.otherName)
		w := app.PostAs(root, "/admin/users/"+id+"/restore", nil)
		if got := testid(doc(t, w), "user-action-error"); w.Code != http.StatusUnprocessableEntity || !strings.Contains(got, tc.message) {
			t.Errorf("restore %s: %d, %q; want 422 saying %q", tc.email, w.Code, got, tc.message)
		}
		if n := invCount(t, app, `SELECT count(*) FROM users WHERE email = $1 AND deleted_at IS NULL`, tc.email); n != 0 {
			t.Errorf("%s was restored", tc.email)
		}
	}
}

// invUserID returns the id of the account of email, deleted or not.
func invUserID(t *testing.T, app *apptest.App, email string) string {
	t.Helper()
	var id string
	if err := app.DB.QueryRow(`SELECT id::text FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return id
}
