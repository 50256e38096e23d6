// Package vectr imports the history kept in VECTR (issue 22, item 4): its
// "Export Active Environment" CSV, one row per test case, read by Parse
// (parse.go); the mapping of VECTR's outcomes and detecting tools onto
// Violet's detection scale and defensive tools, proposed by Propose and
// confirmed by the importer; and Import (import.go), which makes each
// assessment a completed mission, each campaign a category and each test
// case a reviewed mission test with its ATT&CK tag, times, command and
// outcomes per tool. Import keys on missions and tests make a second
// import of the same file change nothing.
package vectr

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/parselimit"
)

// Limits of an export: the sample of 765 test cases is 512 KB; a real
// environment of years of assessments stays far below these. The reader
// holds the whole file (its rows are grouped by assessment before
// anything is written), so the size is what bounds its memory.
const (
	MaxBytes  = 32 << 20
	MaxRows   = 50_000
	maxFields = 200 // columns of a row: VECTR writes about forty
)

// Problem keys: why a row, or one of its cells, could not map. A skipped
// row is not imported; the others are imported without what failed.
const (
	ProblemMissing   = "vectr.problem.missing"   // no assessment, campaign or variant: skipped
	ProblemDuplicate = "vectr.problem.duplicate" // the same assessment, campaign and variant again: skipped
	ProblemTime      = "vectr.problem.time"      // a time that is not one: left out
	ProblemOutcome   = "vectr.problem.outcome"   // an outcome VECTR does not write: no outcome
	ProblemTechnique = "vectr.problem.technique" // a MitreID not in the catalogue: no tag
)

// Outcomes are the outcomes VECTR records, in the order the mapping step
// shows them; TBD (not assessed yet) never maps to a level.
var Outcomes = []string{"Blocked", "Detected", "NotDetected", "TBD"}

// OutcomeTBD is the outcome of a test case not yet assessed.
const OutcomeTBD = "TBD"

// Export is a VECTR export once read: its assessments in the order they
// first appear, the test cases of each in file order.
type Export struct {
	Assessments []*Assessment
	Rows        int      // test cases read, skipped ones included
	Tools       []string // every detecting tool named, sorted ignoring case
	Problems    []Problem
}

// Assessment is one VECTR assessment group: a mission to be.
type Assessment struct {
	Name      string
	Campaigns []string // in the order they first appear
	Tests     []*TestCase
}

// TestCase is one row of the export.
type TestCase struct {
	Line                              int // the CSV line the row starts on
	Campaign, Phase, Variant, MitreID string
	Method, Status, Outcome           string
	OutcomeNotes, Recommendations     string
	SourceIPs, TargetAssets           string
	Tools                             []string
	Start, Stop, Detection            *time.Time
	Objective, Command, References    string
}

// Problem is a row, or a cell of it, that could not map, with the CSV line
// it starts on, why (a message key, Problem*) and the value at fault.
type Problem struct {
	Line  int
	Key   string
	Value string
}

// Refused is an export refused whole, before anything is imported: Line
// is the CSV line at fault (0: the file as a whole), Cause what was wrong.
type Refused struct {
	Line  int
	Cause string
}

// Is makes a refused export an invalid input (422) for errors.Is.
func (e *Refused) Is(target error) bool { return target == app.ErrInvalid }

func (e *Refused) Error() string {
	if e.Line == 0 {
		return "VECTR export refused: " + e.Cause
	}
	return fmt.Sprintf("VECTR export refused at line %d: %s", e.Line, e.Cause)
}

// column names as VECTR writes them, matched ignoring case and spaces.
const (
	colAssessment = "assessmentgroup"
	colCampaign   = "campaign"
	colPhase      = "phase"
	colVariant    = "variant"
	colMitre      = "mitreid"
	colMethod     = "method"
	colStatus     = "status"
	colOutcome    = "outcome"
	colNotes      = "outcomenotes"
	colRecommend  = "detectionrecommendations"
	colSource     = "sourceips"
	colTargets    = "targetassets"
	colTools      = "detectingtools"
	colStart      = "starttime"
	colStartEpoch = "starttimeepoch"
	colStop       = "stoptime"
	colStopEpoch  = "stoptimeepoch"
	colDetect     = "detectiontime"
	colDetectEp   = "detectiontimeepoch"
	colObjective  = "objective"
	colCommand    = "command"
	colReferences = "references"
)

// required columns: without them no row maps.
var required = []string{colAssessment, colCampaign, colVariant}

func normalise(h string) string {
	return strings.ToLower(strings.Join(strings.Fields(strings.TrimSpace(h)), ""))
}

// Parse reads a VECTR export (UTF-8, with or without a byte order mark;
// quoted cells may hold line breaks), matching its columns by header
// name. A file that is not such an export (too large, not CSV, missing
// the assessment, campaign or variant column, too many rows) is a
// *Refused naming its line. Rows that cannot map are reported in
// Export.Problems with their line and skipped or kept as the key says.
func Parse(r io.Reader) (*Export, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the export: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, &Refused{Cause: (&parselimit.Error{Limit: "size", Max: MaxBytes}).Error()}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Refused{Cause: "the file is empty"}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // a short row is reported, not fatal
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, refusal(err)
	}
	if len(header) > maxFields {
		return nil, &Refused{Line: 1, Cause: fmt.Sprintf("more than %d columns", maxFields)}
	}
	col := map[string]int{}
	for i, h := range header {
		if _, seen := col[normalise(h)]; !seen {
			col[normalise(h)] = i
		}
	}
	var missing []string
	for _, name := range required {
		if _, ok := col[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, &Refused{Line: 1, Cause: "not a VECTR export: no column " + strings.Join(missing, ", ")}
	}
	e := &Export{}
	byName := map[string]*Assessment{}
	seen := map[[3]string]bool{}
	tools := map[string]string{} // lower case → first spelling
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, refusal(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) > maxFields {
			return nil, &Refused{Line: line, Cause: fmt.Sprintf("more than %d columns", maxFields)}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		e.Rows++
		if e.Rows > MaxRows {
			return nil, &Refused{Line: line, Cause: fmt.Sprintf("more than %d test cases", MaxRows)}
		}
		cell := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return clean(rec[i])
		}
		assessment, campaign, variant := cell(colAssessment), cell(colCampaign), cell(colVariant)
		if assessment == "" || campaign == "" || variant == "" {
			e.Problems = append(e.Problems, Problem{Line: line, Key: ProblemMissing, Value: strings.Join([]string{assessment, campaign, variant}, " / ")})
			continue
		}
		key := [3]string{assessment, campaign, variant}
		if seen[key] {
			e.Problems = append(e.Problems, Problem{Line: line, Key: ProblemDuplicate, Value: strings.Join(key[:], " / ")})
			continue
		}
		seen[key] = true
		t := &TestCase{Line: line, Campaign: campaign, Phase: cell(colPhase), Variant: variant,
			MitreID: strings.ToUpper(cell(colMitre)), Method: cell(colMethod), Status: cell(colStatus),
			Outcome: cell(colOutcome), OutcomeNotes: cell(colNotes), Recommendations: cell(colRecommend),
			SourceIPs: cell(colSource), TargetAssets: cell(colTargets), Objective: cell(colObjective),
			Command: cell(colCommand), References: cell(colReferences)}
		for _, name := range strings.Split(cell(colTools), ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			low := strings.ToLower(name)
			if first, ok := tools[low]; ok {
				name = first
			} else {
				tools[low] = name
			}
			if !slices.Contains(t.Tools, name) {
				t.Tools = append(t.Tools, name)
			}
		}
		if t.Outcome != "" && !slices.Contains(Outcomes, t.Outcome) {
			if i := slices.IndexFunc(Outcomes, func(o string) bool { return strings.EqualFold(o, t.Outcome) }); i >= 0 {
				t.Outcome = Outcomes[i]
			} else {
				e.Problems = append(e.Problems, Problem{Line: line, Key: ProblemOutcome, Value: t.Outcome})
				t.Outcome = ""
			}
		}
		if t.MitreID != "" && !attackid.IsTechnique(t.MitreID) && !attackid.IsSubtechnique(t.MitreID) {
			e.Problems = append(e.Problems, Problem{Line: line, Key: ProblemTechnique, Value: t.MitreID})
			t.MitreID = ""
		}
		var bad bool
		for _, c := range []struct {
			dst         **time.Time
			text, epoch string
		}{{&t.Start, colStart, colStartEpoch}, {&t.Stop, colStop, colStopEpoch}, {&t.Detection, colDetect, colDetectEp}} {
			if *c.dst, bad = when(cell(c.text), cell(c.epoch)); bad {
				e.Problems = append(e.Problems, Problem{Line: line, Key: ProblemTime, Value: cell(c.text) + " " + cell(c.epoch)})
			}
		}
		if t.Start != nil && t.Stop != nil && t.Stop.Before(*t.Start) {
			// A test cannot end before it started (the table's check):
			// the stop time is the one left out.
			e.Problems = append(e.Problems, Problem{Line: line, Key: ProblemTime, Value: cell(colStop)})
			t.Stop = nil
		}
		a := byName[assessment]
		if a == nil {
			a = &Assessment{Name: assessment}
			byName[assessment] = a
			e.Assessments = append(e.Assessments, a)
		}
		if !slices.Contains(a.Campaigns, campaign) {
			a.Campaigns = append(a.Campaigns, campaign)
		}
		a.Tests = append(a.Tests, t)
	}
	for _, name := range tools {
		e.Tools = append(e.Tools, name)
	}
	slices.SortFunc(e.Tools, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return e, nil
}

// Tests counts the test cases that map (skipped rows left out).
func (e *Export) Tests() int {
	n := 0
	for _, a := range e.Assessments {
		n += len(a.Tests)
	}
	return n
}

// refusal turns the CSV reader's error into a Refused with its line.
func refusal(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line := pe.StartLine
		if pe.Line > 0 && pe.Err == csv.ErrQuote {
			line = pe.Line
		}
		return &Refused{Line: line, Cause: pe.Err.Error()}
	}
	return &Refused{Cause: err.Error()}
}

// clean makes a cell valid text for the database: valid UTF-8, no NUL,
// trimmed.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	return strings.TrimSpace(s)
}

// when reads one of VECTR's times: ISO 8601 text, else the epoch in
// milliseconds next to it. Neither given is no time; a value given that
// is not a time is reported (bad).
func when(text, epoch string) (*time.Time, bool) {
	if text != "" {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
			if t, err := time.Parse(layout, text); err == nil {
				return plausible(t.UTC())
			}
		}
	}
	if epoch != "" {
		if ms, err := strconv.ParseInt(epoch, 10, 64); err == nil {
			return plausible(time.UnixMilli(ms).UTC())
		}
	}
	return nil, text != "" || epoch != ""
}

// plausible refuses the years a date column cannot hold as a date a person
// meant.
func plausible(t time.Time) (*time.Time, bool) {
	if t.Year() < 1970 || t.Year() > 9999 {
		return nil, true
	}
	return &t, false
}
