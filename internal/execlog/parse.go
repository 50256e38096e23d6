// Package execlog imports the execution logs Invoke-AtomicTest writes —
// its ATTiRe JSON log and its default CSV log — into a mission: each
// procedure of the log is matched to one of the mission's tests (by the
// Atomic test GUID its template was imported with, else by technique and
// test number or name), a preview says what would change, and Apply
// records the run on the matched tests (times, command, executor, host,
// user, the output as evidence) in one transaction. Every applied
// procedure is remembered in execution_records, so importing the same log
// again changes nothing.
package execlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"violet/ent/schema"
	"violet/internal/app"
	"violet/internal/attackid"
	"violet/internal/parselimit"
	"violet/internal/textrule"
)

// Formats of a log, as execution_records stores them.
const (
	FormatATTiRe = "attire"
	FormatCSV    = "csv"
)

// Bounds of one log, checked before and while it is parsed (the hardening
// rules: a size limit before any parser runs, a nesting depth for JSON,
// a row count). A day of Invoke-AtomicTest runs is a few hundred
// procedures and well under a megabyte; the outputs make ATTiRe logs
// bigger, hence the size.
const (
	MaxBytes      = 16 << 20
	MaxDepth      = 32
	MaxProcedures = 2000
)

// The messages of a refused file (the field "file").
const (
	KeyRequired   = "execlog.refused.required"
	KeyTooLarge   = "execlog.refused.too_large"
	KeyFormat     = "execlog.refused.format"
	KeyJSON       = "execlog.refused.json"
	KeyVersion    = "execlog.refused.version"
	KeyEmpty      = "execlog.refused.empty"
	KeyTooMany    = "execlog.refused.too_many"
	KeyProcedure  = "execlog.refused.procedure"
	KeyTime       = "execlog.refused.time"
	KeyCSV        = "execlog.refused.csv"
	KeyColumns    = "execlog.refused.columns"
	KeyText       = "execlog.refused.text"
	KeyExecution  = "execlog.refused.execution"
	KeyExpired    = "execlog.refused.expired"
	fileField     = "file"
	procedureHead = 200 // execution_records.procedure_id and execution_id's length
)

// Log is one parsed execution log.
type Log struct {
	Format string // FormatATTiRe or FormatCSV
	// ExecutionID names the log as a whole: ATTiRe's execution-id, or for
	// a CSV log one derived from its rows.
	ExecutionID string
	Host, IP    string // the target, when the log names it once
	User        string
	Procedures  []Procedure
}

// Procedure is one Atomic test run of a log.
type Procedure struct {
	// Key names the procedure within its execution: the Atomic test GUID
	// (lower-case), else technique#number; unique within the log.
	Key string
	// ExecutionID is what execution_records keys the procedure by with Key.
	// For ATTiRe it is the log's execution-id. A CSV log is appended to at
	// every run, so each row is its own execution: the same row is
	// recognised in a longer copy of the file.
	ExecutionID string
	GUID        string // lower-case, "" when the log has none
	TechniqueID string // T1012, T1003.002
	TestNumber  int    // 0 when unknown
	Name        string
	Description string
	Executor    string
	Command     string
	StartedAt   time.Time
	EndedAt     time.Time
	Host, User  string
	Output      string
}

// invalid refuses the whole file with one message.
func invalid(key string) error { return app.Invalidf(fileField, key) }

// Parse reads an ATTiRe JSON log or an Invoke-AtomicTest CSV log, told
// apart by their first character. A file that is neither, passes a
// bound, or holds one bad procedure is refused whole: an *app.Invalid on
// the field "file".
func Parse(filename string, r io.Reader) (*Log, error) {
	if r == nil {
		return nil, invalid(KeyRequired)
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, invalid(KeyTooLarge)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // PowerShell writes a BOM
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, invalid(KeyEmpty)
	}
	if !utf8.Valid(trimmed) || bytes.IndexByte(trimmed, 0) >= 0 {
		return nil, invalid(KeyText)
	}
	var log *Log
	switch ext := strings.ToLower(filepath.Ext(filename)); {
	case trimmed[0] == '{':
		log, err = parseATTiRe(trimmed)
	case ext == ".json":
		return nil, invalid(KeyJSON)
	default:
		log, err = parseCSV(trimmed)
	}
	if err != nil {
		return nil, err
	}
	if err := log.check(); err != nil {
		return nil, err
	}
	return log, nil
}

// attire is the part of an ATTiRe 1.x document Violet reads.
type attire struct {
	Version   string `json:"attire-version"`
	Execution struct {
		Command  string `json:"execution-command"`
		ID       string `json:"execution-id"`
		Source   string `json:"execution-source"`
		Category struct {
			Name         string `json:"name"`
			Abbreviation string `json:"abbreviation"`
		} `json:"execution-category"`
		Target struct {
			Host string `json:"host"`
			IP   string `json:"ip"`
			Path string `json:"path"`
			User string `json:"user"`
		} `json:"target"`
		TimeGenerated string `json:"time-generated"`
	} `json:"execution-data"`
	Procedures []attireProcedure `json:"procedures"`
}

type attireProcedure struct {
	Technique   string `json:"mitre-technique-id"`
	Name        string `json:"procedure-name"`
	Description string `json:"procedure-description"`
	ID          struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"procedure-id"`
	Order int          `json:"order"`
	Steps []attireStep `json:"steps"`
}

type attireStep struct {
	Order     int    `json:"order"`
	TimeStart string `json:"time-start"`
	TimeStop  string `json:"time-stop"`
	Executor  string `json:"executor"`
	Command   string `json:"command"`
	ProcessID any    `json:"process-id"`
	Output    []struct {
		Content string `json:"content"`
		Level   string `json:"level"`
		Type    string `json:"type"`
	} `json:"output"`
}

func parseATTiRe(data []byte) (*Log, error) {
	if err := parselimit.JSON(data, parselimit.Limits{MaxBytes: MaxBytes, MaxDepth: MaxDepth}); err != nil {
		var pe *parselimit.Error
		if errors.As(err, &pe) && pe.Limit == "size" {
			return nil, invalid(KeyTooLarge)
		}
		return nil, invalid(KeyJSON)
	}
	var doc attire
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, invalid(KeyJSON)
	}
	if !strings.HasPrefix(strings.TrimSpace(doc.Version), "1.") {
		return nil, invalid(KeyVersion)
	}
	switch n := len(doc.Procedures); {
	case n == 0:
		return nil, invalid(KeyEmpty)
	case n > MaxProcedures:
		return nil, invalid(KeyTooMany)
	}
	ex := doc.Execution
	id := strings.TrimSpace(ex.ID)
	if id == "" || len(id) > procedureHead {
		return nil, invalid(KeyExecution)
	}
	log := &Log{Format: FormatATTiRe, ExecutionID: id, Host: strings.TrimSpace(ex.Target.Host),
		IP: strings.TrimSpace(ex.Target.IP), User: strings.TrimSpace(ex.Target.User)}
	procs := slices.Clone(doc.Procedures)
	slices.SortStableFunc(procs, func(a, b attireProcedure) int { return a.Order - b.Order })
	for _, p := range procs {
		pr := Procedure{ExecutionID: id, TechniqueID: strings.ToUpper(strings.TrimSpace(p.Technique)),
			Name: strings.TrimSpace(p.Name), Description: strings.TrimSpace(p.Description),
			Host: log.Host, User: log.User}
		if p.ID.Type == "" || strings.EqualFold(p.ID.Type, "guid") {
			pr.GUID = strings.ToLower(strings.TrimSpace(p.ID.ID))
		}
		if len(p.Steps) == 0 {
			return nil, invalid(KeyProcedure)
		}
		steps := slices.Clone(p.Steps)
		slices.SortStableFunc(steps, func(a, b attireStep) int { return a.Order - b.Order })
		var commands, outputs []string
		for i, st := range steps {
			start, err1 := parseTime(st.TimeStart)
			stop, err2 := parseTime(st.TimeStop)
			if err1 != nil || err2 != nil || stop.Before(start) {
				return nil, invalid(KeyTime)
			}
			if i == 0 || start.Before(pr.StartedAt) {
				pr.StartedAt = start
			}
			if stop.After(pr.EndedAt) {
				pr.EndedAt = stop
			}
			if pr.Executor == "" {
				pr.Executor = strings.TrimSpace(st.Executor)
			}
			if c := strings.TrimSpace(st.Command); c != "" {
				commands = append(commands, c)
			}
			for _, o := range st.Output {
				if c := strings.TrimRight(o.Content, " \t\r\n"); c != "" {
					outputs = append(outputs, c)
				}
			}
		}
		pr.Command = strings.Join(commands, "\n")
		if len(outputs) > 0 {
			pr.Output = strings.Join(outputs, "\n") + "\n"
		}
		log.Procedures = append(log.Procedures, pr)
	}
	return log, nil
}

// timeLayouts are the forms of times the two logs are seen with: ATTiRe
// writes ISO 8601 UTC; the CSV log's "Execution Time (UTC)" is ISO 8601
// in recent versions and PowerShell's default (invariant, US) form in
// older ones.
var timeLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05",
	"1/2/2006 3:04:05 PM", "01/02/2006 15:04:05",
}

// parseTime reads a time in UTC when it names no zone.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			// A run is dated in the age of ATT&CK, not in year 1 or 9999
			// (which would sort first or last in every timeline).
			if t.UTC().Year() < 2000 || t.UTC().Year() >= 2100 {
				return time.Time{}, fmt.Errorf("not a plausible time: %q", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

// The columns of the CSV log, matched by name ignoring case; the first
// seven are in every version of Invoke-AtomicTest's default logger.
const (
	colTime     = "execution time (utc)"
	colTech     = "technique"
	colNumber   = "test number"
	colName     = "test name"
	colHost     = "hostname"
	colUser     = "username"
	colGUID     = "guid"
	colExitCode = "exitcode"
	colIP       = "ip address"
)

var requiredColumns = []string{colTime, colTech, colNumber, colName, colHost, colUser, colGUID}

func parseCSV(data []byte) (*Log, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, invalid(KeyCSV)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, c := range requiredColumns {
		if _, ok := cols[c]; !ok {
			if len(header) < 3 {
				return nil, invalid(KeyFormat) // not a CSV log at all
			}
			return nil, invalid(KeyColumns)
		}
	}
	cell := func(row []string, name string) string {
		i, ok := cols[name]
		if !ok || i >= len(row) {
			return ""
		}
		return strings.TrimSpace(row[i])
	}
	log := &Log{Format: FormatCSV}
	var rowKeys []string
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid(KeyCSV)
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue
		}
		if len(log.Procedures) == MaxProcedures {
			return nil, invalid(KeyTooMany)
		}
		at, err := parseTime(cell(row, colTime))
		if err != nil {
			return nil, invalid(KeyTime)
		}
		p := Procedure{TechniqueID: strings.ToUpper(cell(row, colTech)), Name: cell(row, colName),
			GUID: strings.ToLower(cell(row, colGUID)), Host: cell(row, colHost), User: cell(row, colUser),
			StartedAt: at, EndedAt: at}
		if n := cell(row, colNumber); n != "" {
			if p.TestNumber, err = strconv.Atoi(n); err != nil || p.TestNumber < 0 {
				return nil, invalid(KeyProcedure)
			}
		}
		key := strings.Join([]string{at.Format(time.RFC3339Nano), p.TechniqueID, strconv.Itoa(p.TestNumber),
			p.GUID, p.Host, p.User, cell(row, colExitCode)}, "\x1f")
		rowKeys = append(rowKeys, key)
		p.ExecutionID = "csv:" + digest(key)
		if log.IP == "" {
			log.IP = cell(row, colIP)
		}
		log.Procedures = append(log.Procedures, p)
	}
	if len(log.Procedures) == 0 {
		return nil, invalid(KeyEmpty)
	}
	slices.Sort(rowKeys)
	log.ExecutionID = "csv:" + digest(strings.Join(rowKeys, "\n"))
	// The target is the log's when every row names the same one.
	log.Host, log.User = log.Procedures[0].Host, log.Procedures[0].User
	for _, p := range log.Procedures {
		if p.Host != log.Host {
			log.Host = ""
		}
		if p.User != log.User {
			log.User = ""
		}
	}
	return log, nil
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Limits of the values a procedure writes, from the columns they go to.
var (
	hostRule     = textrule.For(schema.MissionTest{}, "target_host")
	userRule     = textrule.For(schema.MissionTest{}, "target_user")
	executorRule = textrule.For(schema.MissionTest{}, "executor")
	nameRule     = textrule.For(schema.MissionTest{}, "name")
	commandMax   = textrule.For(schema.MissionTest{}, "command").Max
)

// check gives each procedure its key and refuses the log when one cannot
// be identified or holds a value its column cannot take.
func (l *Log) check() error {
	seen := map[string]int{}
	for i := range l.Procedures {
		p := &l.Procedures[i]
		switch {
		case p.TechniqueID != "" && !attackid.IsTechniqueOrSub(p.TechniqueID):
			return invalid(KeyProcedure)
		case p.GUID == "" && (p.TechniqueID == "" || p.TestNumber == 0):
			return invalid(KeyProcedure)
		case p.Name == "":
			p.Name = p.TechniqueID
			if p.TestNumber > 0 {
				p.Name += " #" + strconv.Itoa(p.TestNumber)
			}
		}
		if p.Name == "" {
			p.Name = p.GUID
		}
		key := p.GUID
		if key == "" {
			key = strings.ToLower(p.TechniqueID) + "#" + strconv.Itoa(p.TestNumber)
		}
		// The same test run twice in one log: each run is a procedure of
		// its own, told apart by its start.
		if seen[p.ExecutionID+"\x00"+key] > 0 {
			key += "@" + p.StartedAt.Format(time.RFC3339Nano)
		}
		seen[p.ExecutionID+"\x00"+key]++
		p.Key = key
		for _, s := range []string{p.Key, p.Name, p.Description, p.Executor, p.Command, p.Host, p.User, p.Output} {
			if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
				return invalid(KeyText)
			}
		}
		if len(p.Key) > procedureHead || len(p.ExecutionID) > procedureHead ||
			hostRule.Len(p.Host) > hostRule.Max || userRule.Len(p.User) > userRule.Max ||
			executorRule.Len(p.Executor) > executorRule.Max || utf8.RuneCountInString(p.Command) > commandMax ||
			strings.ContainsFunc(p.Host, unicode.IsControl) || strings.ContainsFunc(p.User, unicode.IsControl) {
			return invalid(KeyText)
		}
		if nameRule.Len(p.Name) > nameRule.Max {
			p.Name = cut(p.Name, nameRule.Max)
		}
	}
	return nil
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
