package navigator_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"violet/internal/attackid"
	"violet/internal/navigator"
)

// FuzzParseLayer is issue 9's fuzzing of the Navigator layer import, whose
// input is a file anyone can hand a lead: whatever the bytes, Parse does
// not panic; a refusal is a *ParseError with a known reason naming at most
// ten IDs; an accepted layer has a trimmed UTF-8 name and unique, valid
// technique IDs, and written back as a layer (alone, in an array, after a
// byte order mark) it parses to the same.
func FuzzParseLayer(f *testing.F) {
	layer := func(techniques string) string {
		return `{"name":"APT 29","domain":"enterprise-attack","versions":{"attack":"16","navigator":"5.1.0","layer":"4.5"},` +
			`"techniques":[` + techniques + `]}`
	}
	for _, s := range []string{
		"",
		"null",
		"[]",
		"[null]",
		"{}",
		`"x"`,
		"name: x\n",
		`{"name":`,
		`{"name":"x","domain":"enterprise-attack"}`,
		`{"name":"x","domain":"mobile-attack","techniques":[{"techniqueID":"T1404","score":1}]}`,
		`{"name":1,"domain":"enterprise-attack","techniques":[]}`,
		`{"name":"x","domain":"enterprise-attack","techniques":{}}`,
		layer(`{"techniqueID":"T1059.001","tactic":"execution","score":0},{"techniqueID":"T1059.001","tactic":"persistence","score":3}`),
		layer(`{"techniqueID":"T1003","color":"#e60d0d"},{"techniqueID":"T1021","comment":"seen"},{"techniqueID":"T1082","metadata":[{"name":"a","value":"b"}]}`),
		layer(`{"techniqueID":"T1105","showSubtechniques":true},{"techniqueID":"T1110","score":9,"enabled":false}`),
		layer(`{"techniqueID":" T1059 ","score":1e400},{"techniqueID":"T1059","score":"5"}`),
		layer(`{"techniqueID":"T59","score":1},{"techniqueID":"t1059.001","color":"#ff0000"},{"techniqueID":"T1059\u0000","score":1}`),
		layer(`{"techniqueID":"T1059","score":-1.5e3,"color":"  ","comment":"\u202e"}`),
		"\xef\xbb\xbf[" + layer(`{"techniqueID":"T1059","score":1}`) + "]",
		"[" + layer(`{"techniqueID":"T1059","score":1}`) + "," + layer("") + "]",
		`{"name":"\xff\xfe","domain":"enterprise-attack","techniques":[{"techniqueID":"T1059","score":1}]}`,
		`{"name":"a","name":"b","domain":"enterprise-attack","techniques":[{"techniqueID":"T1059","score":1}]}`,
		strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
		layer(strings.TrimSuffix(strings.Repeat(`{"techniqueID":"T0000","score":1},`, 50), ",")),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := navigator.Parse(data)
		if err != nil {
			checkParseError(t, data, err)
			return
		}
		if got == nil || len(got.IDs) == 0 {
			t.Fatalf("Parse(%q) accepted a layer without techniques: %+v", data, got)
		}
		if got.Name != strings.TrimSpace(got.Name) || !utf8.ValidString(got.Name) {
			t.Fatalf("Parse(%q): name %q", data, got.Name)
		}
		seen := map[string]bool{}
		for _, id := range got.IDs {
			if !attackid.IsTechniqueOrSub(id) || seen[id] {
				t.Fatalf("Parse(%q): IDs %q", data, got.IDs)
			}
			seen[id] = true
		}
		type tech struct {
			TechniqueID string `json:"techniqueID"`
			Score       int    `json:"score"`
		}
		out := struct {
			Name       string `json:"name"`
			Domain     string `json:"domain"`
			Techniques []tech `json:"techniques"`
		}{Name: got.Name, Domain: navigator.Domain}
		for _, id := range got.IDs {
			out.Techniques = append(out.Techniques, tech{id, 1})
		}
		again, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range [][]byte{again, append(append([]byte("["), again...), ']'), append([]byte("\xef\xbb\xbf"), again...)} {
			back, err := navigator.Parse(doc)
			if err != nil || back.Name != got.Name || !slices.Equal(back.IDs, got.IDs) {
				t.Fatalf("Parse(%q) = %+v; written back as %q it parses as %+v (%v)", data, got, doc, back, err)
			}
		}
	})
}

// checkParseError fails unless err is a refusal Violet can show.
func checkParseError(t *testing.T, data []byte, err error) {
	t.Helper()
	var pe *navigator.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse(%q): error %T %v, want a *ParseError", data, err, err)
	}
	switch pe.Reason {
	case navigator.ReasonNotJSON, navigator.ReasonNotLayer, navigator.ReasonManyLayers, navigator.ReasonNoTechniques,
		navigator.ReasonTooMany:
		if len(pe.IDs) != 0 {
			t.Fatalf("Parse(%q): %s with IDs %q", data, pe.Reason, pe.IDs)
		}
	case navigator.ReasonDomain:
		if len(pe.IDs) != 1 || pe.IDs[0] == navigator.Domain {
			t.Fatalf("Parse(%q): domain refused with %q", data, pe.IDs)
		}
	case navigator.ReasonLimit:
		if len(pe.IDs) != 1 {
			t.Fatalf("Parse(%q): limit refused with %q", data, pe.IDs)
		}
	case navigator.ReasonBadIDs:
		if len(pe.IDs) == 0 || len(pe.IDs) > 10 {
			t.Fatalf("Parse(%q): %d bad IDs named", data, len(pe.IDs))
		}
		for _, id := range pe.IDs {
			if attackid.IsTechniqueOrSub(id) {
				t.Fatalf("Parse(%q): valid ID %q called bad", data, id)
			}
		}
	default:
		t.Fatalf("Parse(%q): unknown reason %q", data, pe.Reason)
	}
}
