package attack_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"violet/internal/attack"
	"violet/internal/attackid"
)

// FuzzRead is issue 9's fuzzing of the STIX reader: whatever the bytes,
// Read never panics, every error is a *ReadError (what the sync page shows),
// and a bundle it accepts gives every tactic, technique and sub-technique
// an ATT&CK ID of its kind and a STIX id.
func FuzzRead(f *testing.F) {
	mini, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mini)
	f.Add(bytes.Replace(mini, []byte(`"T1059"`), []byte(`"T1059x"`), 1))
	f.Add(bytes.Replace(mini, []byte(`"persistence"`), []byte(`"\u0000\ud800"`), 1))
	f.Add(mini[:len(mini)/2])
	for _, s := range []string{
		"",
		"null",
		"[]",
		"{}",
		`{"type":"bundle"}`,
		`{"type":"bundle","objects":[]}`,
		`{"type":"bundle","objects":{}}`,
		`{"type":"bundle","objects":[null,1,"x",[]]}`,
		`{"type":"bundle","objects":[{"type":"attack-pattern"}]}`,
		`{"type":"bundle","objects":[{"type":"attack-pattern","id":"attack-pattern--00000000-0000-0000-0000-000000000001","name":"X","external_references":[{"source_name":"mitre-attack","external_id":"T0001"}],"kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"nowhere"}]}]}`,
		`{"type":"bundle","objects":[{"type":"relationship","relationship_type":"subtechnique-of","source_ref":"a","target_ref":"b"}]}`,
		`{"type":"bundle","objects":[{"type":"x-mitre-matrix","tactic_refs":[1e999]}]}`,
		`{"type":1e999999999,"objects":[]}`,
		`{"type":"bundle","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,"objects":[]}`,
		`{"type":"bundle","objects":[` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `]}`,
		"{\"type\":\"bundle\",\"objects\":[{\"type\":\"x-mitre-tactic\",\"name\":\"\xff\xfe\x00\"}]}",
		"\xef\xbb\xbf{\"type\":\"bundle\",\"objects\":[]}",
		`{"type":"bundle","objects":[]} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := attack.Read(bytes.NewReader(data), attack.ReadOptions{Version: "fuzz"})
		if err != nil {
			var re *attack.ReadError
			if !errors.As(err, &re) {
				t.Fatalf("Read: %T %v, want *attack.ReadError", err, err)
			}
			if b != nil {
				t.Fatalf("Read: a bundle with the error %v", err)
			}
			return
		}
		for _, e := range b.Tactics {
			checkFuzzEntry(t, "tactic", e.Entry, attackid.IsTactic)
		}
		for _, e := range b.Techniques {
			checkFuzzEntry(t, "technique", e.Entry, attackid.IsTechnique)
		}
		for _, e := range b.Subtechniques {
			checkFuzzEntry(t, "sub-technique", e.Entry, attackid.IsSubtechnique)
			if e.Parent == "" {
				t.Fatalf("sub-technique %s has no parent", e.ExternalID)
			}
		}
	})
}

func checkFuzzEntry(t *testing.T, kind string, e attack.Entry, isID func(string) bool) {
	t.Helper()
	if !isID(e.ExternalID) || e.StixID == "" {
		t.Fatalf("%s %q (STIX id %q) accepted", kind, e.ExternalID, e.StixID)
	}
}
