package identity

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
)

// Conflict is how a new address or name meets those of the accounts that
// exist.
type Conflict int

// The conflicts, from none to the worst.
const (
	None      Conflict = iota
	LookAlike          // reads like another account's (same confusable skeleton)
	Same               // is another account's, once normalised
)

// Clash is what a new account's address and name collide with.
type Clash struct {
	Email Conflict
	Name  Conflict
}

// Any reports whether the address or the name collides.
func (c Clash) Any() bool { return c.Email != None || c.Name != None }

// lockKey names the advisory lock of account identities ("violet-i").
const lockKey int64 = 0x76696f6c65742d69

// Lock holds, until tx ends, the lock that every transaction creating an
// account or changing its name takes before Check: two look-alikes
// submitted at the same moment would otherwise both pass the check, each
// before the other is written. Sign-ins and other changes never wait.
func Lock(ctx context.Context, tx *ent.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("lock account identities: %w", err)
	}
	return nil
}

// Check compares a new address and display name, in their stored forms
// ("" for one not being set), with those of every account that is not
// deleted, except the account except (the one being changed; uuid.Nil for
// a new account).
//
// Skeletons are computed here rather than stored: the comparison reads
// two short columns of every account (the users of one Violet instance
// number in the hundreds, a few thousands at most; keying one account
// takes about 7 µs, 70 ms for 10,000, see BenchmarkKeys) and runs only when an account is
// created or renamed, so it needs no column, index or migration to keep
// in step with the confusables table. Deleted accounts are left out as
// the unique index on email leaves them out: they cannot sign in, and
// restoring one runs the same check.
func Check(ctx context.Context, users *ent.UserClient, except uuid.UUID, email, name string) (Clash, error) {
	var c Clash
	if email == "" && name == "" {
		return c, nil
	}
	q := users.Query().Select(user.FieldEmail, user.FieldDisplayName)
	if except != uuid.Nil {
		q.Where(user.IDNEQ(except))
	}
	others, err := q.All(ctx)
	if err != nil {
		return c, fmt.Errorf("read accounts: %w", err)
	}
	var emailKey, nameKey string
	if email != "" {
		emailKey = Key(email)
	}
	if name != "" {
		nameKey = NameKey(name)
	}
	for _, u := range others {
		if email != "" && c.Email != Same {
			switch {
			case u.Email == email:
				c.Email = Same
			case Key(u.Email) == emailKey:
				c.Email = LookAlike
			}
		}
		if name != "" && c.Name == None && NameKey(u.DisplayName) == nameKey {
			c.Name = LookAlike
		}
	}
	return c, nil
}
