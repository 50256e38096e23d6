package account_test

import (
	"context"
	"testing"

	"violet/internal/account"
)

// TestSSORequiredFailsClosed: the policy reads as on for any stored value
// that is not a JSON boolean (it was not written by the admin page, and
// reading it as off would let passwords back in); false and a missing row
// read as off.
func TestSSORequiredFailsClosed(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		value string
		want  bool
	}{{`true`, true}, {`false`, false}, {`"yes"`, true}, {`1`, true}, {`{"on": false}`, true}} {
		if _, err := w.db.Exec(`UPDATE settings SET value = $1::jsonb WHERE key = 'sso_required'`, c.value); err != nil {
			t.Fatal(err)
		}
		if on, err := account.SSORequired(ctx, w.client); err != nil || on != c.want {
			t.Errorf("%s: %v, %v; want %v", c.value, on, err, c.want)
		}
	}
	if _, err := w.db.Exec(`DELETE FROM settings WHERE key = 'sso_required'`); err != nil {
		t.Fatal(err)
	}
	if on, err := account.SSORequired(ctx, w.client); err != nil || on {
		t.Errorf("missing: %v, %v", on, err)
	}
}
