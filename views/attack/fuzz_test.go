package attack_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"violet/views/attack"
)

// FuzzParsePicked is issue 9's fuzzing of the ATT&CK tag values a form
// submits ("technique:<uuid>", one per ticked box, as many as the client
// likes): ParsePicked never panics; a refusal wraps ErrInvalidPick and
// returns nothing; an accepted list is at most MaxPicked unique entries of
// a known kind, the first occurrences in the submitted order, and written
// back as values it parses to the same list.
func FuzzParsePicked(f *testing.F) {
	const id = "0b5f6a8e-3c1d-4e2f-9a7b-1c2d3e4f5a6b"
	for _, s := range []string{
		"",
		"technique:" + id,
		"tactic:" + id + "\nsubtechnique:" + id + "\ntactic:" + id,
		"technique:" + strings.ToUpper(id),
		"technique:{" + id + "}",
		"technique:urn:uuid:" + id,
		"technique:" + strings.ReplaceAll(id, "-", ""),
		"technique:" + id + " ",
		"technique:T1059.001",
		"Technique:" + id,
		"mitigation:" + id,
		":" + id,
		"technique:",
		"technique",
		id,
		"technique:" + id + ":extra",
		"technique:0b5f6a8e-3c1d-4e2f-9a7b-1c2d3e4f5a6\x00",
		"technique:0b5f6a8e+3c1d-4e2f-9a7b-1c2d3e4f5a6b",
		strings.Repeat("tactic:"+id+"\n", 150),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values := strings.Split(raw, "\n")
		got, err := attack.ParsePicked(values)
		if err != nil {
			if !errors.Is(err, attack.ErrInvalidPick) || got != nil {
				t.Fatalf("ParsePicked(%q) = %v, %v: want nil and ErrInvalidPick", values, got, err)
			}
			return
		}
		if len(got) > attack.MaxPicked {
			t.Fatalf("ParsePicked(%q): %d entries", values, len(got))
		}
		// The first occurrence of each submitted entry, in order.
		var want []attack.PickedRef
		for _, v := range values {
			kind, rest, _ := strings.Cut(v, ":")
			for _, r := range got {
				if r.Kind == kind && strings.EqualFold(r.ID.String(), rest) && !slices.Contains(want, r) {
					want = append(want, r)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ParsePicked(%q) = %v, want %v", values, got, want)
		}
		var again []string
		for _, r := range got {
			switch r.Kind {
			case attack.KindTactic, attack.KindTechnique, attack.KindSubtechnique:
			default:
				t.Fatalf("ParsePicked(%q): kind %q", values, r.Kind)
			}
			again = append(again, r.Kind+":"+r.ID.String())
		}
		back, err := attack.ParsePicked(again)
		if err != nil || !slices.Equal(back, got) {
			t.Fatalf("ParsePicked(%q) = %v; written back it parses as %v (%v)", values, got, back, err)
		}
	})
}
