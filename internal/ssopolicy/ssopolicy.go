// Package ssopolicy reads and locks the "require single sign-on" policy
// (the sso_required setting, Administration → Sign-in). It sits below
// every package that enforces the policy (account, invite, people) so
// that each reads the setting the same way without an import cycle
// (account imports invite and people through admission).
package ssopolicy

import (
	"context"
	"encoding/json"
	"fmt"

	"violet/ent"
	"violet/ent/setting"
	"violet/internal/auth/rule"
	"violet/internal/seed"
)

// lockKey serialises the changes the policy's guards read ("violet-g"):
// the policy, break-glass flags, deactivating or deleting a break-glass
// admin, disabling or deleting providers, so that two admins at once
// cannot leave the policy on with nobody able to get in.
const lockKey int64 = 0x76696f6c65742d67

// Required reads the sso_required setting through client: false when it
// is missing; true when its value is not a JSON boolean (failing closed:
// such a value was not written by Administration → Sign-in, and reading
// it as off would let passwords back in; saving the policy writes a
// clean value).
func Required(ctx context.Context, client *ent.Client) (bool, error) {
	row, err := client.Setting.Query().Where(setting.Key(seed.SettingSSORequired)).Only(rule.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the single sign-on policy: %w", err)
	}
	var on bool
	if err := json.Unmarshal(row.Value, &on); err != nil {
		return true, nil
	}
	return on, nil
}

// Lock takes the policy's lock for the rest of tx and reads whether the
// policy is on. Every workflow that could leave the policy on with no
// break-glass admin or no provider calls it before reading those.
func Lock(ctx context.Context, tx *ent.Tx) (bool, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return false, fmt.Errorf("lock the sign-in policy: %w", err)
	}
	return Required(ctx, tx.Client())
}
