package rule_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/missiontest"
	"violet/ent/privacy"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

// TestMissionPolicies is the role × action matrix of missions and tests at the
// ent level: who sees which tests (unreleased ones hidden from blue), and who
// writes which fields (blue never a red field, nor red a blue one).
func TestMissionPolicies(t *testing.T) {
	_, client, _ := testdb.Open(t)
	sys := rule.SystemContext(context.Background())
	user := func(email string) uuid.UUID {
		return client.User.Create().SetEmail(email).SetDisplayName(email).SetPasswordHash("x").SaveX(sys).ID
	}
	ids := map[string]uuid.UUID{}
	for _, r := range []string{"lead", "red", "blue", "observer", "outsider", "admin"} {
		ids[r] = user(r + "@example.com")
	}
	m := client.Mission.Create().SetName("M").SaveX(sys)
	other := client.Mission.Create().SetName("Other").SaveX(sys)
	for _, r := range []string{"lead", "red", "blue", "observer"} {
		client.MissionMember.Create().SetMissionID(m.ID).SetUserID(ids[r]).SetRole(missionRole(r)).ExecX(sys)
	}
	released := client.MissionTest.Create().SetMissionID(m.ID).SetName("released").SetReleasedToBlue(true).SaveX(sys)
	hidden := client.MissionTest.Create().SetMissionID(m.ID).SetName("unreleased").SaveX(sys)
	// Released during the table below; hidden stays unreleased.
	toRelease := client.MissionTest.Create().SetMissionID(m.ID).SetName("unreleased too").SaveX(sys)
	client.MissionTest.Create().SetMissionID(other.ID).SetName("elsewhere").ExecX(sys)

	// Each role with the permissions its seeded group gives.
	perms := map[string][]auth.Permission{
		"lead":     {auth.MissionRead, auth.MissionCreate, auth.MissionTestRedWrite},
		"red":      {auth.MissionRead, auth.MissionTestRedWrite},
		"blue":     {auth.MissionRead, auth.MissionTestBlueWrite},
		"observer": {auth.MissionRead},
		"outsider": {auth.MissionRead, auth.MissionTestRedWrite},
		"admin":    {auth.MissionRead, auth.MissionReadAll, auth.MissionManage},
	}
	as := func(role string) context.Context {
		codes := make([]string, len(perms[role]))
		for i, p := range perms[role] {
			codes[i] = string(p)
		}
		return auth.NewContext(context.Background(), auth.NewViewer(ids[role], role+"@example.com", role, "en", uuid.New(), nil, codes))
	}

	t.Run("visibility", func(t *testing.T) {
		want := map[string][]string{
			"lead":     {"released", "unreleased", "unreleased too"},
			"red":      {"released", "unreleased", "unreleased too"},
			"blue":     {"released"},
			"observer": {"released", "unreleased", "unreleased too"},
			"outsider": nil,
			"admin":    {"elsewhere", "released", "unreleased", "unreleased too"},
		}
		for role, names := range want {
			got, err := client.MissionTest.Query().Order(ent.Asc(missiontest.FieldName)).Select(missiontest.FieldName).Strings(as(role))
			if err != nil {
				t.Fatalf("%s: %v", role, err)
			}
			if len(got) != len(names) || (len(got) > 0 && got[0] != names[0]) {
				t.Errorf("%s sees %v, want %v", role, got, names)
			}
			missions, _ := client.Mission.Query().Count(as(role))
			wantMissions := map[string]int{"outsider": 0, "admin": 2}[role]
			if role != "outsider" && role != "admin" {
				wantMissions = 1
			}
			if missions != wantMissions {
				t.Errorf("%s sees %d missions, want %d", role, missions, wantMissions)
			}
		}
		if _, err := client.MissionTest.Get(as("blue"), hidden.ID); !ent.IsNotFound(err) {
			t.Errorf("blue opening an unreleased test: %v, want not found", err)
		}
	})

	now := time.Now()
	type write struct {
		name string
		test *ent.MissionTest
		set  func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne
	}
	red := func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne {
		return u.SetCommand("whoami").SetStartedAt(now).SetState(missiontest.StateRunning)
	}
	blue := func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne {
		return u.SetAlertName("EDR: whoami").SetDetectedAt(now)
	}
	release := func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne { return u.SetReleasedToBlue(true) }
	rename := func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne { return u.SetName("renamed") }
	cases := []struct {
		role    string
		w       write
		allowed bool
	}{
		{"red", write{"red fields", released, red}, true},
		{"red", write{"blue fields", released, blue}, false},
		{"red", write{"release", toRelease, release}, true},
		{"red", write{"take a release back", released, func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne { return u.SetReleasedToBlue(false) }}, false},
		{"red", write{"plan fields", released, rename}, false},
		{"blue", write{"blue fields on a released test", released, blue}, true},
		{"blue", write{"blue fields on an unreleased test", hidden, blue}, false},
		{"blue", write{"red fields", released, red}, false},
		{"observer", write{"red fields", released, red}, false},
		{"observer", write{"blue fields", released, blue}, false},
		{"outsider", write{"red fields", released, red}, false},
		{"lead", write{"take a release back", toRelease, func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne { return u.SetReleasedToBlue(false) }}, true},
		{"lead", write{"red and blue fields", released, func(u *ent.MissionTestUpdateOne) *ent.MissionTestUpdateOne { return blue(red(u)) }}, true},
		{"admin", write{"plan fields", released, rename}, true},
	}
	for _, tc := range cases {
		t.Run(tc.role+" writes "+tc.w.name, func(t *testing.T) {
			err := tc.w.set(client.MissionTest.UpdateOneID(tc.w.test.ID)).AddVersion(1).Exec(as(tc.role))
			switch {
			case tc.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.allowed && err == nil:
				t.Error("allowed")
			case !tc.allowed && !errors.Is(err, privacy.Deny) && !ent.IsNotFound(err):
				t.Errorf("err = %v, want a denial", err)
			}
		})
	}
	t.Run("only leads create tests; bulk changes are the system's", func(t *testing.T) {
		if err := client.MissionTest.Create().SetMissionID(m.ID).SetName("x").Exec(as("red")); !errors.Is(err, privacy.Deny) {
			t.Errorf("red creating: %v", err)
		}
		if err := client.MissionTest.Create().SetMissionID(m.ID).SetName("x").Exec(as("lead")); err != nil {
			t.Errorf("lead creating: %v", err)
		}
		if _, err := client.MissionTest.Update().Where(missiontest.MissionID(m.ID)).SetPosition(3).Save(as("lead")); !errors.Is(err, privacy.Deny) {
			t.Errorf("lead bulk update: %v", err)
		}
	})
	t.Run("missions", func(t *testing.T) {
		if err := client.Mission.UpdateOneID(m.ID).SetDescription("by lead").Exec(as("lead")); err != nil {
			t.Errorf("lead: %v", err)
		}
		if err := client.Mission.UpdateOneID(m.ID).SetDescription("by red").Exec(as("red")); err == nil {
			t.Error("red changed the mission")
		}
		if err := client.Mission.Create().SetName("new").Exec(as("blue")); !errors.Is(err, privacy.Deny) {
			t.Errorf("blue creating a mission: %v", err)
		}
		if err := client.Mission.Create().SetName("new").Exec(as("lead")); err != nil {
			t.Errorf("mission.create: %v", err)
		}
	})
}

func missionRole(r string) missionmember.Role { return missionmember.Role(r) }
