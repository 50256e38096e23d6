package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/missionread"
)

func TestFilenames(t *testing.T) {
	for _, tc := range []struct{ name, ascii, unicode string }{
		{"Operation Violet", "Operation-Violet-tests.csv", ""},
		{`Opération « Été » /"2026"`, "Op-ration-t-2026-tests.csv", "Opération-Été-2026-tests.csv"},
		{"«»", "mission-tests.csv", ""},
		{"日本", "mission-tests.csv", "日本-tests.csv"},
		{"../../etc/passwd", "etc-passwd-tests.csv", ""},
	} {
		f := newFile("text/csv", tc.name, "tests.csv", nil)
		if f.Name != tc.ascii || f.UnicodeName != tc.unicode {
			t.Errorf("%q: %q %q, want %q %q", tc.name, f.Name, f.UnicodeName, tc.ascii, tc.unicode)
		}
	}
}

// TestWriteCSV: formulas are defused, line breaks inside cells are LF,
// records end with CRLF, and every row has the header's columns.
func TestWriteCSV(t *testing.T) {
	tests := []missionread.Test{{
		MissionTest: &ent.MissionTest{ID: uuid.New(), Name: "=cmd|' /C calc'!A0", Command: "+1", SourceHost: "-10.0.0.1",
			AlertName: "@SUM(A1)", BlueNotes: "\ttab", LogSource: "Sysmon\r\nEID 1\rEID 3", Platforms: []string{"windows", "linux"}},
		Number: 1,
		Tags:   []missionread.Tag{{ExternalID: "T1059.001", Name: "PowerShell"}, {ExternalID: "TA0002", Name: "Execution"}},
		Level:  &ent.DetectionLevel{Name: "Alert", Score: 100, CountsAsDetected: true},
	}}
	var buf bytes.Buffer
	if err := writeCSV(&buf, tests); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if !bytes.HasSuffix(data, []byte("\r\n")) || bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		t.Errorf("record ends or byte order mark: %q", data)
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range records[0] {
		col[h] = i
	}
	for field, want := range map[string]string{
		"number": "1", "name": "'=cmd|' /C calc'!A0", "command": "'+1", "source_host": "'-10.0.0.1", "alert_name": "'@SUM(A1)",
		"blue_notes": "'\ttab", "log_source": "Sysmon\nEID 1\nEID 3", "platforms": "windows; linux",
		"tags": "T1059.001 PowerShell; TA0002 Execution", "detection_level": "Alert", "detection_score": "100",
		"counts_as_detected": "true", "executed_by": "", "started_at": "",
	} {
		if got := records[1][col[field]]; got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if len(records[0]) != len(records[1]) || len(records[0]) != len(csvHeader()) {
		t.Errorf("%d columns, %d cells", len(records[0]), len(records[1]))
	}
}

func TestOnPlatforms(t *testing.T) {
	for _, tc := range []struct {
		template, layer []string
		want            bool
	}{
		{nil, []string{"Windows"}, true}, // a template without platforms
		{[]string{"Linux"}, nil, true},   // a layer without a filter
		{[]string{"Linux", "macOS"}, []string{"Windows"}, false},
		{[]string{"Linux", "Windows"}, []string{"Windows"}, true},
		{[]string{"mac"}, []string{"macOS"}, true}, // older names
		{[]string{"Office 365"}, []string{"Office Suite"}, true},
	} {
		if got := onPlatforms(tc.template, tc.layer); got != tc.want {
			t.Errorf("onPlatforms(%v, %v) = %v", tc.template, tc.layer, got)
		}
	}
}

// TestWriteArchiveMatchesMarshalIndent: the archive written a test at a
// time is byte for byte what json.MarshalIndent made of the whole archive,
// with tests and without.
func TestWriteArchiveMatchesMarshalIndent(t *testing.T) {
	when := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var tests []missionread.Test
	for i := range 3 {
		tests = append(tests, missionread.Test{
			MissionTest: &ent.MissionTest{ID: uuid.New(), Name: fmt.Sprintf("Test <%d> & \"quoted\" é", i), Position: i,
				RedNotes: "line\nbreak", StartedAt: &when, Platforms: []string{"windows"}},
			Number: i + 1,
			Tags:   []missionread.Tag{{Kind: "technique", ExternalID: "T1059", Name: "Command", Tactics: []map[string]string{{"id": "TA0002"}}}},
			Level:  &ent.DetectionLevel{ID: uuid.New(), Name: "Alert", Score: 100},
		})
	}
	evidence := map[uuid.UUID][]*ent.EvidenceFile{tests[1].ID: {{ID: uuid.New(), OriginalName: "a.png", Size: 3, CreatedAt: when}}}
	for _, n := range []int{0, 1, 3} {
		out := Document{Format: archiveFormat, Version: archiveVersion, ExportedAt: stamp(&when),
			Mission: DocMission{ID: uuid.NewString(), Name: "M <1>"}, Members: []DocMember{{Name: "A", Email: "a@example.com", Role: "lead"}},
			Categories: []DocGroup{}, Scenarios: []DocGroup{}, DetectionLevels: []DocLevel{}, Tests: []DocTest{}}
		in := missionread.Archive{Tests: tests[:n], Evidence: evidence}
		var got bytes.Buffer
		if err := writeArchive(&got, out, in); err != nil {
			t.Fatal(err)
		}
		for i := range in.Tests {
			out.Tests = append(out.Tests, archiveTestOf(&in.Tests[i], in.Evidence[in.Tests[i].ID]))
		}
		want, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%d tests: streamed archive differs:\n%s\nwant\n%s", n, got.Bytes(), want)
		}
	}
}
