package navigator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/navigator"
)

var (
	blocked  = navigator.Level{ID: uuid.New(), Name: "Blocked", Score: 100, Colour: "#15803d", Position: 0}
	alerted  = navigator.Level{ID: uuid.New(), Name: "Alerted", Score: 75, Colour: "#65a30d", Position: 1}
	logged   = navigator.Level{ID: uuid.New(), Name: "Logged", Score: 75, Colour: "#ca8a04", Position: 2}
	missed   = navigator.Level{ID: uuid.New(), Name: "Missed", Score: 0, Colour: "#b91c1c", Position: 3}
	oldLevel = navigator.Level{ID: uuid.New(), Name: "Old", Score: 10, Colour: "#777777", Position: 4, Retired: true}
	scale    = []navigator.Level{missed, blocked, oldLevel, logged, alerted}
)

func labels() navigator.Labels {
	return navigator.Labels{Rule: "RULE", State: func(s string) string { return "state:" + s }, NoLevel: "no level",
		Mission: "Mission", Exported: "Exported", Catalog: "Catalogue", Tests: "Tests"}
}

func tag(id string, tactics ...string) navigator.Tag {
	kind := "technique"
	if strings.Contains(id, ".") {
		kind = "subtechnique"
	}
	g := navigator.Tag{Kind: kind, ExternalID: id}
	for _, s := range tactics {
		short, ta, _ := strings.Cut(s, "=")
		g.Tactics = append(g.Tactics, navigator.Tactic{ID: ta, Shortname: short})
	}
	return g
}

func tacticTag(id string) navigator.Tag { return navigator.Tag{Kind: "tactic", ExternalID: id} }

func test(name, state string, l *navigator.Level, tags ...navigator.Tag) navigator.Test {
	t := navigator.Test{Name: name, State: state, Tags: tags}
	if l != nil {
		t.LevelID = &l.ID
	}
	return t
}

func build(tests ...navigator.Test) navigator.Layer {
	return navigator.Build(navigator.Input{Name: "Op", Description: "Desc", AttackVersion: "17.1",
		Levels: scale, Tests: tests, Now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("x", 3600)), Labels: labels()})
}

func find(l navigator.Layer, id, tactic string) *navigator.Technique {
	for i := range l.Techniques {
		if l.Techniques[i].TechniqueID == id && l.Techniques[i].Tactic == tactic {
			return &l.Techniques[i]
		}
	}
	return nil
}

func TestBuildScores(t *testing.T) {
	ps := tag("T1059.001", "execution=TA0002")
	l := build(
		test("alerted", "executed", &alerted, ps),
		test("logged", "reviewed", &logged, ps),
		test("blocked but pending", "pending", &blocked, ps),
		test("no level", "executed", nil, ps),
		test("skipped", "skipped", nil, tag("T1003", "credential-access=TA0006")),
		test("missed", "reviewed", &missed, tag("T1021.002", "lateral-movement=TA0008")),
		test("retired level", "executed", &oldLevel, tag("T1105", "command-and-control=TA0011")),
	)
	for _, tc := range []struct {
		name, id string
		score    *int
		color    string
	}{
		{"highest counted score, tie to the level placed first", "T1059.001", intp(75), alerted.Colour},
		{"no executed test with a level: no score", "T1003", nil, ""},
		{"a zero score is a score", "T1021.002", intp(0), missed.Colour},
		{"a retired level still scores its tests", "T1105", intp(10), oldLevel.Colour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := find(l, tc.id, "")
			if e == nil {
				t.Fatalf("no entry for %s in %+v", tc.id, l.Techniques)
			}
			if (e.Score == nil) != (tc.score == nil) || e.Score != nil && *e.Score != *tc.score {
				t.Errorf("score %v, want %v", deref(e.Score), deref(tc.score))
			}
			if e.Color != tc.color {
				t.Errorf("color %q, want %q", e.Color, tc.color)
			}
			if !e.Enabled {
				t.Error("entry disabled")
			}
		})
	}
	e := find(l, "T1059.001", "")
	for _, want := range []string{"• alerted: state:executed, Alerted (75)", "• blocked but pending: state:pending, Blocked (100)", "• no level: state:executed, no level"} {
		if !strings.Contains(e.Comment, want) {
			t.Errorf("comment %q lacks %q", e.Comment, want)
		}
	}
	if e.Metadata[0].Value != "2 / 4" {
		t.Errorf("scored tests %q, want 2 / 4", e.Metadata[0].Value)
	}
	if len(l.Techniques) != 4 {
		t.Errorf("%d entries, want 4", len(l.Techniques))
	}
	if l.Techniques[0].TechniqueID != "T1003" || l.Techniques[3].TechniqueID != "T1105" {
		t.Errorf("entries not in ID order: %+v", l.Techniques)
	}
}

func TestBuildTactics(t *testing.T) {
	sched := func() navigator.Tag {
		return tag("T1053.005", "execution=TA0002", "persistence=TA0003", "privilege-escalation=TA0004")
	}
	l := build(
		test("persist", "executed", &blocked, sched(), tacticTag("TA0003")),
		test("anywhere", "executed", &missed, sched()),
		test("plain", "executed", &alerted, tag("T1059", "execution=TA0002"), tacticTag("TA0002")),
		test("unrelated tactic", "executed", &alerted, tag("T1082", "discovery=TA0007"), tacticTag("TA0002")),
	)
	for _, tc := range []struct {
		tactic string
		score  int
	}{{"execution", 0}, {"persistence", 100}, {"privilege-escalation", 0}} {
		e := find(l, "T1053.005", tc.tactic)
		if e == nil || e.Score == nil || *e.Score != tc.score {
			t.Errorf("T1053.005 under %s: %+v, want score %d", tc.tactic, e, tc.score)
		}
	}
	if find(l, "T1053.005", "") != nil {
		t.Error("an entry for every tactic besides the per-tactic ones")
	}
	if e := find(l, "T1059", "execution"); e == nil || *e.Score != 75 {
		t.Errorf("T1059 under execution: %+v", e)
	}
	if e := find(l, "T1082", ""); e == nil {
		t.Error("a tactic tag the technique does not belong to should leave it under all tactics")
	}
}

func TestBuildLayerFields(t *testing.T) {
	l := build()
	if l.Versions != (navigator.Versions{Attack: "17", Navigator: "4.9.0", Layer: "4.5"}) || l.Domain != "enterprise-attack" {
		t.Errorf("versions %+v domain %q", l.Versions, l.Domain)
	}
	if l.Techniques == nil {
		t.Error("techniques must be an array, even empty")
	}
	if !strings.HasPrefix(l.Description, "Desc") || !strings.HasSuffix(l.Description, "RULE") {
		t.Errorf("description %q", l.Description)
	}
	var names []string
	for _, it := range l.LegendItems {
		names = append(names, it.Label+"="+it.Color)
	}
	if got := strings.Join(names, ","); got != "Blocked (100)=#15803d,Alerted (75)=#65a30d,Logged (75)=#ca8a04,Missed (0)=#b91c1c" {
		t.Errorf("legend %s", got)
	}
	if g := l.Gradient; g.MinValue != 0 || g.MaxValue != 100 || strings.Join(g.Colors, ",") != "#b91c1c,#65a30d,#ca8a04,#15803d" {
		t.Errorf("gradient %+v", g)
	}
	if l.Metadata[1].Value != "2026-11-27T09:00:00Z" || l.Metadata[0].Value != "Op" || l.Metadata[2].Value != "17.1" {
		t.Errorf("metadata %+v", l.Metadata)
	}
	if v := navigator.Build(navigator.Input{Labels: labels()}); v.Versions.Attack != "" || len(v.Gradient.Colors) < 2 {
		t.Errorf("without a catalogue or scale: %+v", v)
	}
	raw, _ := json.Marshal(navigator.Build(navigator.Input{Labels: labels()}))
	if strings.Contains(string(raw), `"attack"`) {
		t.Errorf("versions.attack written without a catalogue: %s", raw)
	}
}

func TestAttackMajor(t *testing.T) {
	for in, want := range map[string]string{"17.1": "17", "v16.1": "16", "18": "18", "": "", "latest": ""} {
		if got := navigator.AttackMajor(in); got != want {
			t.Errorf("AttackMajor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	layer := func(techniques string) string {
		return `{"name":"APT","domain":"enterprise-attack","versions":{"layer":"4.5"},"techniques":[` + techniques + `]}`
	}
	for _, tc := range []struct {
		name, in string
		reason   string
		ids      []string
	}{
		{"not JSON", `{"name":`, navigator.ReasonNotJSON, nil},
		{"YAML", "name: x\n", navigator.ReasonNotJSON, nil},
		{"a JSON string", `"x"`, navigator.ReasonNotLayer, nil},
		{"no domain", `{"name":"x","techniques":[]}`, navigator.ReasonNotLayer, nil},
		{"techniques not a list", `{"name":"x","domain":"enterprise-attack","techniques":{}}`, navigator.ReasonNotLayer, nil},
		{"mobile domain", `{"name":"x","domain":"mobile-attack","techniques":[{"techniqueID":"T1404","score":1}]}`, navigator.ReasonDomain, []string{"mobile-attack"}},
		{"two layers", `[` + layer(`{"techniqueID":"T1059","score":1}`) + `,` + layer(``) + `]`, navigator.ReasonManyLayers, nil},
		{"nothing marked", layer(`{"techniqueID":"T1059","showSubtechniques":true},{"techniqueID":"T1003","score":5,"enabled":false}`), navigator.ReasonNoTechniques, nil},
		{"malformed IDs", layer(`{"techniqueID":"T59","score":1},{"techniqueID":"t1059.001","color":"#ff0000"}`), navigator.ReasonBadIDs, []string{"T59", "t1059.001"}},
		{"selected entries", layer(`{"techniqueID":"T1059.001","tactic":"execution","score":0},{"techniqueID":"T1059.001","tactic":"persistence","score":3},` +
			`{"techniqueID":"T1003","color":"#e60d0d"},{"techniqueID":"T1021","comment":"seen"},{"techniqueID":"T1082","metadata":[{"name":"a","value":"b"}]},` +
			`{"techniqueID":"T1105","showSubtechniques":true},{"techniqueID":"T1110","score":9,"enabled":false}`), "", []string{"T1059.001", "T1003", "T1021", "T1082"}},
		{"an array of one layer, with a byte order mark", "\xef\xbb\xbf[" + layer(`{"techniqueID":"T1059","score":1}`) + "]", "", []string{"T1059"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := navigator.Parse([]byte(tc.in))
			var pe *navigator.ParseError
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if strings.Join(got.IDs, ",") != strings.Join(tc.ids, ",") || got.Name != "APT" {
					t.Errorf("got %+v, want IDs %v", got, tc.ids)
				}
				return
			}
			if !errors.As(err, &pe) || pe.Reason != tc.reason {
				t.Fatalf("error %v, want %s", err, tc.reason)
			}
			if strings.Join(pe.IDs, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("ids %v, want %v", pe.IDs, tc.ids)
			}
		})
	}
	var pe *navigator.ParseError
	// Distinct valid IDs beyond MaxIDs: refused before any query (the
	// preview's would pass PostgreSQL's 65,535 parameters); MaxIDs pass.
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"techniqueID":"T%04d.%03d","score":1}`, 1000+i/1000, i%1000)
		}
		return layer(b.String())
	}
	if _, err := navigator.Parse([]byte(many(navigator.MaxIDs + 1))); !errors.As(err, &pe) || pe.Reason != navigator.ReasonTooMany {
		t.Errorf("%d techniques: %v, want %s", navigator.MaxIDs+1, err, navigator.ReasonTooMany)
	}
	if got, err := navigator.Parse([]byte(many(navigator.MaxIDs))); err != nil || len(got.IDs) != navigator.MaxIDs {
		t.Errorf("%d techniques: %v", navigator.MaxIDs, err)
	}
	l := &navigator.ImportedLayer{IDs: []string{"T1059", "T9999", "T1003.999"}}
	err := l.Unknown(func(id string) bool { return id == "T1059" })
	if !errors.As(err, &pe) || pe.Reason != navigator.ReasonUnknownIDs || strings.Join(pe.IDs, ",") != "T9999,T1003.999" {
		t.Errorf("Unknown: %v", err)
	}
	if err := l.Unknown(func(string) bool { return true }); err != nil {
		t.Errorf("Unknown with all known: %v", err)
	}
}

func intp(n int) *int { return &n }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestParseRefusesDeepLayer: a layer nesting deeper than any layer does is
// refused before it is decoded, the limit named.
func TestParseRefusesDeepLayer(t *testing.T) {
	deep := `{"name": "x", "domain": "enterprise-attack", "techniques": [], "m": ` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`
	_, err := navigator.Parse([]byte(deep))
	var pe *navigator.ParseError
	if !errors.As(err, &pe) || pe.Reason != navigator.ReasonLimit || !strings.Contains(err.Error(), "nesting deeper than 64 levels") {
		t.Errorf("err = %v, want the nesting limit", err)
	}
}

// TestParseFormats reads the layer formats the Navigator itself opens:
// 3.x (top-level "version", domain "mitre-enterprise", lower-case
// platforms) and 4.x (versions.layer), and refuses other formats and
// domains. The fixtures follow the Navigator's documented layer format.
func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		file          string
		ids, platform string
	}{
		{"layer-v3.0.json", "T1059,T1059.001,T1003", "Windows"},
		{"layer-v4.1.json", "T1059.001,T1059,T1003", "Windows,Office Suite,Identity Provider"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := navigator.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if ids := strings.Join(got.IDs, ","); ids != tc.ids {
			t.Errorf("%s: IDs %s, want %s", tc.file, ids, tc.ids)
		}
		if p := strings.Join(got.Platforms, ","); p != tc.platform {
			t.Errorf("%s: platforms %s, want %s", tc.file, p, tc.platform)
		}
	}
	techniques := `"techniques":[{"techniqueID":"T1059","score":1}]`
	for _, tc := range []struct {
		name, head string
		reason     string
		ids        []string
	}{
		{"3.0, top-level version", `"version":"3.0","domain":"mitre-enterprise"`, "", nil},
		{"4.2 as a top-level version, old domain name", `"version":"4.2","domain":"mitre-enterprise"`, "", nil},
		{"4.5 under versions", `"versions":{"layer":"4.5","navigator":"5.1.0"},"domain":"enterprise-attack"`, "", nil},
		{"versions.layer wins over version", `"version":"2.2","versions":{"layer":"4.3"},"domain":"enterprise-attack"`, "", nil},
		{"a number", `"versions":{"layer":4.4},"domain":"enterprise-attack"`, "", nil},
		{"no version", `"domain":"enterprise-attack"`, "", nil},
		{"format 2.2", `"version":"2.2","domain":"mitre-enterprise"`, navigator.ReasonVersion, []string{"2.2"}},
		{"format 5.0", `"versions":{"layer":"5.0"},"domain":"enterprise-attack"`, navigator.ReasonVersion, []string{"5.0"}},
		{"old mobile domain", `"version":"3.0","domain":"mitre-mobile"`, navigator.ReasonDomain, []string{"mitre-mobile"}},
		{"ICS", `"versions":{"layer":"4.5"},"domain":"ics-attack"`, navigator.ReasonDomain, []string{"ics-attack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := navigator.Parse([]byte(`{"name":"x",` + tc.head + `,` + techniques + `}`))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *navigator.ParseError
			if !errors.As(err, &pe) || pe.Reason != tc.reason || strings.Join(pe.IDs, ",") != strings.Join(tc.ids, ",") {
				t.Fatalf("error %v, want %s %v", err, tc.reason, tc.ids)
			}
		})
	}
	for in, want := range map[string]string{"mac": "macOS", "windows": "Windows", "Office 365": "Office Suite", "Azure AD": "Identity Provider", "AWS": "IaaS", "Network": "Network Devices", "Linux": "Linux", "Other": "Other"} {
		if got := navigator.Platform(in); got != want {
			t.Errorf("Platform(%q) = %q, want %q", in, got, want)
		}
	}
}
