package attack_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"violet/internal/attack"
)

func readFile(t testing.TB, path string) *attack.Bundle {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := attack.Read(f, attack.ReadOptions{Version: attack.VersionFromName(path)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadFixture(t *testing.T) {
	b := readFile(t, "testdata/mini-bundle.json")
	if b.Version != "99.1" {
		t.Errorf("version %q, want the collection's 99.1", b.Version)
	}
	var order []string
	for _, tac := range b.Tactics {
		order = append(order, tac.ExternalID+"/"+tac.Shortname)
	}
	if want := []string{"TA0001/initial-access", "TA0002/execution", "TA0003/persistence"}; !slices.Equal(order, want) {
		t.Errorf("tactics in %v, want the matrix order %v", order, want)
	}
	tech := map[string]attack.Technique{}
	for _, x := range b.Techniques {
		tech[x.ExternalID] = x
	}
	tacticOf := map[string]string{}
	for _, x := range b.Tactics {
		tacticOf[x.StixID] = x.Shortname
	}
	names := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, tacticOf[id])
		}
		return out
	}
	cases := []struct {
		id, name      string
		tactics       []string
		revoked, depr bool
		revokedBy     string
		platforms     []string
	}{
		{"T1001", "Phishing Lure", []string{"initial-access"}, false, false, "", []string{"Windows", "Linux"}},
		{"T1002", "Script Runner", []string{"execution", "persistence"}, false, false, "", []string{"Linux", "macOS"}},
		{"T1003", "Old Script Runner", []string{"execution"}, true, false, tech["T1002"].StixID, []string{"Windows"}},
		{"T1004", "Forgotten Trick", []string{"persistence"}, false, true, "", []string{"Windows"}},
	}
	if len(b.Techniques) != len(cases) {
		t.Fatalf("%d techniques, want %d", len(b.Techniques), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			x, ok := tech[tc.id]
			if !ok {
				t.Fatal("missing")
			}
			if x.Name != tc.name || !slices.Equal(names(x.Tactics), tc.tactics) || x.Revoked != tc.revoked ||
				x.Deprecated != tc.depr || x.RevokedBy != tc.revokedBy || !slices.Equal(x.Platforms, tc.platforms) {
				t.Errorf("got %+v", x)
			}
			if !strings.HasPrefix(x.URL, "https://attack.mitre.org/techniques/") || x.Modified == nil {
				t.Errorf("URL %q, modified %v", x.URL, x.Modified)
			}
		})
	}
	parents := map[string]string{}
	for _, s := range b.Subtechniques {
		for _, x := range b.Techniques {
			if x.StixID == s.Parent {
				parents[s.ExternalID] = x.ExternalID
			}
		}
	}
	want := map[string]string{"T1002.001": "T1002", "T1001.001": "T1001", "T1002.002": "T1002"}
	if len(parents) != len(want) {
		t.Errorf("sub-technique parents %v, want %v", parents, want)
	}
	for k, v := range want {
		if parents[k] != v {
			t.Errorf("parent of %s = %q, want %s (T1002.002 has no link: by its ID)", k, parents[k], v)
		}
	}
}

// TestReadRealBundles reads MITRE's own bundles (../shared/data), which CI
// has; ATT&CK IDs, tactic order and counts are checked against them.
func TestReadRealBundles(t *testing.T) {
	cases := []struct {
		file                      string
		tactics, techniques, subs int
	}{
		{"enterprise-attack-16.1.json", 14, 343, 456},
		{"enterprise-attack-17.1.json", 14, 351, 472},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b := readFile(t, realBundle(t, tc.file))
			if len(b.Tactics) != tc.tactics || len(b.Techniques) != tc.techniques || len(b.Subtechniques) != tc.subs {
				t.Errorf("%d tactics, %d techniques, %d sub-techniques; want %d, %d, %d",
					len(b.Tactics), len(b.Techniques), len(b.Subtechniques), tc.tactics, tc.techniques, tc.subs)
			}
			if b.Tactics[0].ExternalID != "TA0043" || b.Tactics[13].ExternalID != "TA0040" {
				t.Errorf("tactic order starts %s ends %s, want TA0043 … TA0040", b.Tactics[0].ExternalID, b.Tactics[13].ExternalID)
			}
			if b.Version != strings.TrimSuffix(strings.TrimPrefix(tc.file, "enterprise-attack-"), ".json") {
				t.Errorf("version %q", b.Version)
			}
			for _, x := range b.Techniques {
				if !x.Revoked && !x.Deprecated && len(x.Tactics) == 0 {
					t.Errorf("active technique %s has no tactic", x.ExternalID)
				}
			}
		})
	}
}

// realBundle returns the path of a bundle in ../shared/data/attack, which
// CI requires; a local checkout without it skips.
func realBundle(t testing.TB, name string) string {
	t.Helper()
	path := "../../../shared/data/attack/" + name
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatalf("real ATT&CK data required: %v", err)
		}
		t.Skipf("no real ATT&CK data here: %v", err)
	}
	return path
}

// mutate loads the fixture, lets change edit its objects, and returns the
// bundle as JSON.
func mutate(t testing.TB, change func(objects []map[string]any) []map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Type    string           `json:"type"`
		ID      string           `json:"id"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	b.Objects = change(b.Objects)
	out, _ := json.Marshal(b)
	return string(out)
}

func find(objects []map[string]any, externalID string) map[string]any {
	for _, o := range objects {
		if refs, ok := o["external_references"].([]any); ok {
			if refs[0].(map[string]any)["external_id"] == externalID {
				return o
			}
		}
	}
	return nil
}

// badBundles are the bad inputs of issue 4, each with words the error
// must contain.
func badBundles(t testing.TB) []struct{ name, body, want string } {
	return []struct{ name, body, want string }{
		{"not JSON", "this is not json", "not JSON"},
		{"empty file", "", "not JSON"},
		{"cut short", `{"type":"bundle","objects":[{"type":"x-mitre-tactic"`, "ends too early"},
		{"a JSON list", `[1,2,3]`, "does not start a JSON object"},
		{"JSON but not a bundle", `{"type":"report","objects":[]}`, "not a STIX bundle"},
		{"a bundle without objects", `{"type":"bundle","id":"bundle--x"}`, `no "objects"`},
		{"objects not a list", `{"type":"bundle","objects":{}}`, "not a list"},
		{"an empty bundle", `{"type":"bundle","objects":[]}`, "no ATT&CK techniques"},
		{"wrong STIX types: name is a number", mutate(t, func(o []map[string]any) []map[string]any {
			find(o, "T1001")["name"] = 42
			return o
		}), "attack-pattern--"},
		{"wrong STIX types: id of another type", mutate(t, func(o []map[string]any) []map[string]any {
			find(o, "T1001")["id"] = "malware--00000000-0000-0000-0000-000000000065"
			return o
		}), "not a STIX id of type"},
		{"an object without id", mutate(t, func(o []map[string]any) []map[string]any {
			delete(find(o, "T1002"), "id")
			return o
		}), "no type or no id"},
		{"an attack-pattern without ATT&CK ID", mutate(t, func(o []map[string]any) []map[string]any {
			find(o, "T1004")["external_references"] = []any{map[string]any{"source_name": "capec", "external_id": "CAPEC-1"}}
			return o
		}), "has no ATT&CK ID"},
		{"a malformed ATT&CK ID", mutate(t, func(o []map[string]any) []map[string]any {
			find(o, "T1004")["external_references"] = []any{map[string]any{"source_name": "mitre-attack", "external_id": "X1004"}}
			return o
		}), "X1004"},
		{"duplicate ids", mutate(t, func(o []map[string]any) []map[string]any {
			dup := map[string]any{}
			for k, v := range find(o, "T1001") {
				dup[k] = v
			}
			return append(o, dup)
		}), "duplicate id attack-pattern--"},
		{"a relationship to an unknown object", mutate(t, func(o []map[string]any) []map[string]any {
			return append(o, map[string]any{"type": "relationship", "id": "relationship--00000000-0000-0000-0000-0000000001ff",
				"relationship_type": "subtechnique-of", "source_ref": "attack-pattern--00000000-0000-0000-0000-0000000000c9",
				"target_ref": "attack-pattern--00000000-0000-0000-0000-000000000fff"})
		}), "does not have"},
		{"revoked by an unknown object", mutate(t, func(o []map[string]any) []map[string]any {
			return append(o, map[string]any{"type": "relationship", "id": "relationship--00000000-0000-0000-0000-0000000001fe",
				"relationship_type": "revoked-by", "source_ref": "attack-pattern--00000000-0000-0000-0000-000000000068",
				"target_ref": "attack-pattern--00000000-0000-0000-0000-000000000eee"})
		}), "revoked by"},
		{"a technique in an unknown tactic", mutate(t, func(o []map[string]any) []map[string]any {
			find(o, "T1001")["kill_chain_phases"] = []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": "time-travel"}}
			return o
		}), `"time-travel"`},
		{"no matrix", mutate(t, func(o []map[string]any) []map[string]any {
			return slices.DeleteFunc(o, func(x map[string]any) bool { return x["type"] == "x-mitre-matrix" })
		}), "no x-mitre-matrix"},
	}
}

func TestReadRefusesBadInput(t *testing.T) {
	for _, tc := range badBundles(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attack.Read(strings.NewReader(tc.body), attack.ReadOptions{})
			var re *attack.ReadError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a ReadError mentioning %q", err, tc.want)
			}
		})
	}
}

// junk yields n bytes of junk without holding them.
type junk struct{ left int64 }

func (j *junk) Read(p []byte) (int, error) {
	if j.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), j.left)
	for i := range p[:n] {
		p[i] = byte('a' + i%26)
	}
	j.left -= n
	return int(n), nil
}

// TestReadStopsEarlyOnJunk: 200 MB of junk is refused after a few bytes,
// not read to the end nor held.
func TestReadStopsEarlyOnJunk(t *testing.T) {
	j := &junk{left: 200 << 20}
	_, err := attack.Read(j, attack.ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("err = %v", err)
	}
	if read := 200<<20 - j.left; read > 1<<20 {
		t.Errorf("read %d bytes of junk before refusing it", read)
	}
}

func TestVersionFromName(t *testing.T) {
	for name, want := range map[string]string{
		"enterprise-attack-16.1.json": "16.1",
		"https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack-17.1.json": "17.1",
		"https://example.com/enterprise-attack.json": "",
		"bundle.json": "",
	} {
		if got := attack.VersionFromName(name); got != want {
			t.Errorf("VersionFromName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestReadFullBundle: the full Enterprise bundle (44 MB, every object)
// passes the bounds Read checks as it streams.
func TestReadFullBundle(t *testing.T) {
	b := readFile(t, realBundle(t, "enterprise-attack-17.1-full.json"))
	if len(b.Tactics) != 14 || len(b.Techniques) < 300 || b.Version != "17.1" {
		t.Errorf("%d tactics, %d techniques, version %q", len(b.Tactics), len(b.Techniques), b.Version)
	}
}

// TestReadRefusesDeepJSON: nesting in a bundle is refused as the bytes go
// by, naming the limit, before the decoder holds any of it.
func TestReadRefusesDeepJSON(t *testing.T) {
	deep := `{"type": "bundle", "objects": [{"type": "x", "id": "x--1", "d": ` + strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000) + `}]}`
	_, err := attack.Read(strings.NewReader(deep), attack.ReadOptions{})
	var re *attack.ReadError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "nesting deeper than 64 levels") {
		t.Errorf("err = %v, want a ReadError naming the nesting limit", err)
	}
}
