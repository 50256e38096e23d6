package paths

import (
	"testing"

	"github.com/google/uuid"
)

func TestURL(t *testing.T) {
	id := uuid.MustParse("3f0c2f4e-8b7a-4d7e-9c55-0a1b2c3d4e5f")
	test := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	cases := []struct {
		got, want string
	}{
		{URL(Missions), "/missions"},
		{URL(Mission, id), "/missions/" + id.String()},
		{URL(MissionTestStart, id, test), "/missions/" + id.String() + "/tests/" + test.String() + "/start"},
		{URL(AttackEntry, "T1059.001"), "/attack/T1059.001"},
		{URL(Invitation, "a/b c"), "/invitations/a%2Fb%20c"},
		{URL(GroupPermissionToggle, id, "mission.read"), "/admin/groups/" + id.String() + "/permissions/mission.read"},
		{URL(MissionExportTestsCSV, id), "/missions/" + id.String() + "/export/tests.csv"},
		{Query(Templates, "q", "powershell", "tactic", ""), "/library/tests?q=powershell"},
		{Query(Templates), "/library/tests"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestURLPanicsOnWrongParameterCount(t *testing.T) {
	for _, c := range []struct {
		template string
		params   []any
	}{
		{Mission, nil},
		{MissionTest, []any{uuid.New()}},
		{Missions, []any{uuid.New()}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("URL(%q, %d params) did not panic", c.template, len(c.params))
				}
			}()
			URL(c.template, c.params...)
		}()
	}
}
