package attack_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/views/attack"
)

func TestParsePicked(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	cases := []struct {
		name   string
		values []string
		want   []attack.PickedRef // nil with wantErr
		err    bool
	}{
		{"none", nil, []attack.PickedRef{}, false},
		{"each kind in order", []string{"technique:" + a, "tactic:" + b, "subtechnique:" + a},
			[]attack.PickedRef{{Kind: "technique", ID: uuid.MustParse(a)}, {Kind: "tactic", ID: uuid.MustParse(b)}, {Kind: "subtechnique", ID: uuid.MustParse(a)}}, false},
		{"repeats dropped", []string{"technique:" + a, "technique:" + a},
			[]attack.PickedRef{{Kind: "technique", ID: uuid.MustParse(a)}}, false},
		{"upper-case uuid", []string{"tactic:" + strings.ToUpper(a)}, []attack.PickedRef{{Kind: "tactic", ID: uuid.MustParse(a)}}, false},
		{"empty value", []string{""}, nil, true},
		{"no kind", []string{a}, nil, true},
		{"unknown kind", []string{"group:" + a}, nil, true},
		{"kind in upper case", []string{"Technique:" + a}, nil, true},
		{"not a uuid", []string{"technique:T1059"}, nil, true},
		{"uuid in braces", []string{"technique:{" + a + "}"}, nil, true},
		{"urn uuid", []string{"technique:urn:uuid:" + a}, nil, true},
		{"trailing text", []string{"technique:" + a + "x"}, nil, true},
		{"36 characters, not hex", []string{"technique:" + strings.Repeat("z", 36)}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attack.ParsePicked(tc.values)
			if tc.err {
				if !errors.Is(err, attack.ErrInvalidPick) || got != nil {
					t.Errorf("ParsePicked(%q) = %v, %v; want an ErrInvalidPick", tc.values, got, err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("ParsePicked(%q) = %v, %v; want %v", tc.values, got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestParsePickedLimit: a form cannot submit more than MaxPicked distinct
// entries, repeats not counted.
func TestParsePickedLimit(t *testing.T) {
	var values []string
	for range attack.MaxPicked {
		v := "technique:" + uuid.NewString()
		values = append(values, v, v)
	}
	if got, err := attack.ParsePicked(values); err != nil || len(got) != attack.MaxPicked {
		t.Fatalf("%d distinct: %d, %v", attack.MaxPicked, len(got), err)
	}
	if _, err := attack.ParsePicked(append(values, "tactic:"+uuid.NewString())); !errors.Is(err, attack.ErrInvalidPick) {
		t.Errorf("%d distinct: %v, want ErrInvalidPick", attack.MaxPicked+1, err)
	}
}

func TestValidPickerName(t *testing.T) {
	for name, want := range map[string]bool{
		"tags": true, "mitre_tags": true, "tags-2": true, "T": true,
		"": false, "2tags": false, "ta gs": false, `x"><script>`: false, "q": false, "name": false,
		strings.Repeat("a", 40): true, strings.Repeat("a", 41): false,
	} {
		if got := attack.ValidPickerName(name); got != want {
			t.Errorf("ValidPickerName(%q) = %v, want %v", name, got, want)
		}
	}
}
