package export

import (
	"bytes"
	"encoding/csv"
	"testing"

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
	data, err := writeCSV(tests)
	if err != nil {
		t.Fatal(err)
	}
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
