package factor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"violet/ent"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/testkit/testdb"
)

// TestNeedOf: an app means a code; a group's policy without an app means
// enrolment; neither means nothing.
func TestNeedOf(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := context.Background()
	sys := rule.SystemContext(ctx)
	g := client.Group.Create().SetName("strict").SaveX(sys)
	u := client.User.Create().SetEmail("ada@example.com").SetDisplayName("Ada").SetPasswordHash("x").SaveX(sys)
	need := func() factor.Need {
		t.Helper()
		n, err := factor.NeedOf(ctx, client, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := need(); n != factor.NeedNothing {
		t.Errorf("no app, no policy: %v", n)
	}
	client.User.UpdateOne(u).AddGroups(g).ExecX(sys)
	client.Group.UpdateOne(g).SetRequireSecondFactor(true).ExecX(sys)
	if n := need(); n != factor.NeedEnrol {
		t.Errorf("policy without an app: %v, want NeedEnrol", n)
	}
	client.UserTOTP.Create().SetUserID(u.ID).SetSecret("sealed").SetConfirmedAt(time.Now()).ExecX(sys)
	if n := need(); n != factor.NeedCode {
		t.Errorf("an app: %v, want NeedCode", n)
	}
}

// TestEnrolmentTokenWorksOnce: a token started before an app was
// confirmed (by itself or another) cannot confirm again.
func TestEnrolmentTokenWorksOnce(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := context.Background()
	sys := rule.SystemContext(ctx)
	now := time.Date(2026, 12, 5, 12, 0, 10, 0, time.UTC)
	f, err := factor.NewService(client, []byte("0123456789abcdef0123456789abcdef"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	u := client.User.Create().SetEmail("ada@example.com").SetDisplayName("Ada").SetPasswordHash("x").SaveX(sys)
	old, err := f.Begin(u.ID, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	e, err := f.Begin(u.ID, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	confirm := func(e factor.Enrolment) error {
		return database.WithTx(sys, client, func(tx *ent.Tx) error {
			_, err := f.Confirm(ctx, tx, u.ID, e.Token, codeAt(t, e.Secret, now))
			return err
		})
	}
	now = now.Add(30 * time.Second)
	if err := confirm(e); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	if err := confirm(e); !errors.Is(err, factor.ErrEnrolmentExpired) {
		t.Errorf("the same token again: %v, want ErrEnrolmentExpired", err)
	}
	if err := confirm(old); !errors.Is(err, factor.ErrEnrolmentExpired) {
		t.Errorf("a token started before: %v, want ErrEnrolmentExpired", err)
	}
	if n := client.UserTOTP.Query().CountX(sys); n != 1 {
		t.Errorf("%d apps", n)
	}
}
