package rule_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/auditevent"
	"violet/ent/evidencefile"
	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

// TestScopedPolicies checks the entity policies that scope rows rather
// than whole tables: evidence follows its test's visibility, members
// follow their mission, notifications and sessions their owner, the audit
// log is append-only and its mission-test history is readable by the
// test's viewers only.
func TestScopedPolicies(t *testing.T) {
	_, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	user := func(email string) uuid.UUID {
		return client.User.Create().SetEmail(email).SetDisplayName(email).SetPasswordHash("x").SaveX(sys).ID
	}
	ids := map[string]uuid.UUID{}
	for _, r := range []string{"lead", "blue", "observer", "outsider", "auditor"} {
		ids[r] = user(r + "@example.com")
	}
	perms := map[string][]string{
		"lead": {string(auth.MissionRead)}, "blue": {string(auth.MissionRead)},
		"observer": {string(auth.MissionRead)}, "outsider": {string(auth.MissionRead)},
		"auditor": {string(auth.AuditRead)},
	}
	as := func(who string) context.Context {
		return auth.NewContext(context.Background(), auth.NewViewer(ids[who], who+"@example.com", who, "en", uuid.New(), nil, perms[who]))
	}
	sha := "0000000000000000000000000000000000000000000000000000000000000000"
	m := client.Mission.Create().SetName("M").SaveX(sys)
	for _, r := range []string{"lead", "blue", "observer"} {
		client.MissionMember.Create().SetMissionID(m.ID).SetUserID(ids[r]).SetRole(missionRole(r)).ExecX(sys)
	}
	released := client.MissionTest.Create().SetMissionID(m.ID).SetName("released").SetReleasedToBlue(true).SaveX(sys)
	hidden := client.MissionTest.Create().SetMissionID(m.ID).SetName("unreleased").SaveX(sys)
	for _, tt := range []*ent.MissionTest{released, hidden} {
		client.EvidenceFile.Create().SetMissionTestID(tt.ID).SetSide(evidencefile.SideRed).SetUploadedByID(ids["lead"]).
			SetOriginalName(tt.Name + ".txt").SetStoredKey(uuid.NewString()).SetContentType("text/plain").
			SetSize(1).SetSha256(sha).ExecX(sys)
		client.AuditEvent.Create().SetAction("mission_test.started").SetTargetType("mission_test").
			SetTargetID(tt.ID.String()).SetTargetLabel(tt.Name).ExecX(sys)
	}
	client.AuditEvent.Create().SetAction("user.created").SetTargetType("user").SetTargetID(ids["blue"].String()).ExecX(sys)

	t.Run("evidence follows its test", func(t *testing.T) {
		for who, want := range map[string]int{"lead": 2, "observer": 2, "blue": 1, "outsider": 0} {
			if n := client.EvidenceFile.Query().CountX(as(who)); n != want {
				t.Errorf("%s sees %d evidence files, want %d", who, n, want)
			}
		}
		// The observer sees evidence but cannot add any; the outsider neither.
		for _, who := range []string{"observer", "outsider"} {
			err := client.EvidenceFile.Create().SetMissionTestID(released.ID).SetSide(evidencefile.SideBlue).
				SetUploadedByID(ids[who]).SetOriginalName("x.txt").SetStoredKey(uuid.NewString()).
				SetContentType("text/plain").SetSize(1).SetSha256(sha).Exec(as(who))
			if !errors.Is(err, privacy.Deny) {
				t.Errorf("%s adding evidence: %v, want privacy.Deny", who, err)
			}
		}
	})
	t.Run("members follow their mission", func(t *testing.T) {
		for who, want := range map[string]int{"lead": 3, "blue": 3, "outsider": 0} {
			if n := client.MissionMember.Query().CountX(as(who)); n != want {
				t.Errorf("%s sees %d members, want %d", who, n, want)
			}
		}
		err := client.MissionMember.Create().SetMissionID(m.ID).SetUserID(ids["outsider"]).
			SetRole(missionRole("red")).Exec(as("blue"))
		if !errors.Is(err, privacy.Deny) {
			t.Errorf("a blue member adding a member: %v, want privacy.Deny", err)
		}
		if err := client.MissionMember.Create().SetMissionID(m.ID).SetUserID(ids["auditor"]).
			SetRole(missionRole("observer")).Exec(as("lead")); err != nil {
			t.Errorf("the lead adding a member: %v", err)
		}
	})
	t.Run("notifications are their owner's", func(t *testing.T) {
		// A workflow acting for the lead notifies the blue member.
		n := client.Notification.Create().SetUserID(ids["blue"]).SetKind("test").SetTitle("hello").SaveX(as("lead"))
		if c := client.Notification.Query().CountX(as("lead")); c != 0 {
			t.Errorf("the sender sees %d notifications of someone else", c)
		}
		if c := client.Notification.Query().CountX(as("blue")); c != 1 {
			t.Errorf("the owner sees %d notifications, want 1", c)
		}
		if err := client.Notification.DeleteOneID(n.ID).Exec(as("lead")); !ent.IsNotFound(err) {
			t.Errorf("someone else deleting a notification: %v, want not found", err)
		}
		if err := client.Notification.DeleteOneID(n.ID).Exec(as("blue")); err != nil {
			t.Errorf("the owner deleting their notification: %v", err)
		}
	})
	t.Run("the audit log is append-only and scoped", func(t *testing.T) {
		for who, want := range map[string]int{"auditor": 3, "lead": 2, "blue": 1, "outsider": 0} {
			if n := client.AuditEvent.Query().CountX(as(who)); n != want {
				t.Errorf("%s sees %d audit events, want %d", who, n, want)
			}
		}
		if n := client.AuditEvent.Query().Where(auditevent.TargetID(hidden.ID.String())).CountX(as("blue")); n != 0 {
			t.Errorf("blue sees the history of an unreleased test")
		}
		for _, ctx := range []context.Context{as("auditor"), context.Background()} {
			if _, err := client.AuditEvent.Delete().Exec(ctx); !errors.Is(err, privacy.Deny) {
				t.Errorf("deleting audit events: %v, want privacy.Deny", err)
			}
		}
		// Anonymous creation: a failed sign-in is recorded by nobody.
		if err := client.AuditEvent.Create().SetAction("login.failed").Exec(context.Background()); err != nil {
			t.Errorf("recording an event without a viewer: %v", err)
		}
	})
}
