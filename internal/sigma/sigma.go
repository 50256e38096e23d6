// Package sigma reads Sigma detection rules (SigmaHQ's rule format,
// https://sigmahq.io/docs/basics/rules.html) into the rows of Violet's
// rule catalogue (ent DetectionRule), and imports folders, files and
// archives of them (import.go).
package sigma

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"violet/ent/schema"
	"violet/internal/attackid"
	"violet/internal/parselimit"
	"violet/internal/textrule"
)

// Rule is one Sigma rule as the catalogue keeps it.
type Rule struct {
	UID         string // the rule's id, lower case
	Title       string
	Status      string
	Level       string
	Description string
	Author      string
	Logsource   map[string]string // product, category, service (those given)
	Tags        []string
	Techniques  []string // ATT&CK IDs from the attack.tNNNN[.NNN] tags, upper case, each once
	References  []string
	Date        string
	Modified    string
	Content     string // the file as read
	SHA256      string // of Content, hex
}

// Error is a file refused: its name, the line the problem is on (0 when
// the problem is the whole file's, such as its size) and the reason.
type Error struct {
	File   string
	Line   int
	Reason string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s, line %d: %s", e.File, e.Line, e.Reason)
	}
	return e.File + ": " + e.Reason
}

// MaxFileSize bounds one rule file. SigmaHQ's largest rules (long lists
// of hashes or command lines) are under 100 KB.
const MaxFileSize = 1 << 20

// Limits checked before the YAML reader runs (see parselimit): Sigma rules
// nest 4 or 5 levels (detection → selection → field → list), so 32 refuses
// only files made to crash the reader; 100,000 tokens is several times the
// largest SigmaHQ rule and bounds the reader's memory to some 80 MB.
const (
	MaxDepth  = 32
	MaxTokens = 100_000
)

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	techniqueRE = regexp.MustCompile(`^attack\.(t\d{4}(?:\.\d{3})?)$`)
)

// The column limits of the fields kept, from the ent schema.
var (
	titleRule       = textrule.For(schema.DetectionRule{}, "title")
	statusRule      = textrule.For(schema.DetectionRule{}, "status")
	levelRule       = textrule.For(schema.DetectionRule{}, "level")
	descriptionRule = textrule.For(schema.DetectionRule{}, "description")
	authorRule      = textrule.For(schema.DetectionRule{}, "author")
	dateRule        = textrule.For(schema.DetectionRule{}, "date")
)

// Parse reads the Sigma rule file name holds (name is only used in the
// errors). A file is refused, as an *Error naming the line when there is
// one, when it passes the parser's limits, is not YAML, holds more than
// one document (a rule collection, "action: global": split it into one
// rule per file, as SigmaHQ itself now does), lacks a required field
// (id, a UUID; title; logsource; detection: the line is the mapping's), or
// has a field of the wrong type or too long for its column.
func Parse(name string, data []byte) (*Rule, error) {
	fail := func(line int, format string, args ...any) error {
		return &Error{File: name, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	if err := textrule.Check(string(data)); err != nil {
		return nil, fail(0, "the file %s", err)
	}
	tokens, err := parselimit.YAMLTokens(data, parselimit.Limits{MaxBytes: MaxFileSize, MaxDepth: MaxDepth, MaxTokens: MaxTokens})
	if err != nil {
		return nil, fail(0, "refused before reading: %s", err)
	}
	file, err := parse(tokens)
	if err != nil {
		return nil, fail(lineOf(err), "not YAML: %s", messageOf(err))
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, fail(0, "the file is empty")
	case len(docs) > 1:
		return nil, fail(docLine(docs[1]), "the file holds %d YAML documents (a Sigma rule collection); Violet imports one rule per file", len(docs))
	}
	body := docs[0].Body
	top, ok := body.(*ast.MappingNode)
	if !ok {
		return nil, fail(nodeLine(body), "a Sigma rule is a mapping of fields (title, id, logsource, detection…)")
	}
	fields := map[string]*ast.MappingValueNode{}
	for _, v := range top.Values {
		fields[v.Key.String()] = v
	}
	r := &Rule{Content: string(data)}
	sum := sha256.Sum256(data)
	r.SHA256 = hex.EncodeToString(sum[:])
	mapLine := nodeLine(top)
	for _, req := range []string{"id", "title", "logsource", "detection"} {
		if fields[req] == nil {
			return nil, fail(mapLine, "the required field %q is missing", req)
		}
	}
	str := func(key string, rule textrule.Rule, dst *string) error {
		v := fields[key]
		if v == nil {
			return nil
		}
		if v.Value.Type() == ast.NullType {
			return nil
		}
		var s string
		if err := scalar(v.Value, &s); err != nil {
			return fail(nodeLine(v.Value), "%s: %s", key, messageOf(err))
		}
		s = strings.TrimSpace(s)
		if err := rule.Check(s); err != nil {
			return fail(nodeLine(v.Value), "%s %s", key, err)
		}
		*dst = s
		return nil
	}
	list := func(key string, dst *[]string) error {
		v := fields[key]
		if v == nil || v.Value.Type() == ast.NullType {
			return nil
		}
		var out []string
		if err := yaml.NodeToValue(v.Value, &out); err != nil {
			return fail(lineOf(err, nodeLine(v.Value)), "%s: a list of text is expected (%s)", key, messageOf(err))
		}
		for _, s := range out {
			if s = strings.TrimSpace(s); s != "" {
				if err := textrule.Check(s); err != nil {
					return fail(nodeLine(v.Value), "%s %s", key, err)
				}
				*dst = append(*dst, s)
			}
		}
		return nil
	}
	var id string
	steps := []error{
		str("id", textrule.Rule{}, &id),
		str("title", titleRule, &r.Title),
		str("status", statusRule, &r.Status),
		str("level", levelRule, &r.Level),
		str("description", descriptionRule, &r.Description),
		str("author", authorRule, &r.Author),
		str("date", dateRule, &r.Date),
		str("modified", dateRule, &r.Modified),
		list("tags", &r.Tags),
		list("references", &r.References),
	}
	if err := errors.Join(steps...); err != nil {
		var first *Error
		for _, e := range steps {
			if e != nil && errors.As(e, &first) {
				return nil, first
			}
		}
	}
	if !uuidRE.MatchString(id) {
		return nil, fail(nodeLine(fields["id"].Value), "id %q is not a UUID", id)
	}
	r.UID = strings.ToLower(id)
	if r.Title == "" {
		return nil, fail(nodeLine(fields["title"].Value), "the title is empty")
	}
	if r.Logsource, err = logsource(fields["logsource"].Value); err != nil {
		return nil, fail(lineOf(err, nodeLine(fields["logsource"].Value)), "logsource: %s", messageOf(err))
	}
	if d, ok := fields["detection"].Value.(*ast.MappingNode); !ok || len(d.Values) == 0 {
		return nil, fail(nodeLine(fields["detection"].Value), "detection must be a mapping of searches with a condition")
	}
	r.Techniques = Techniques(r.Tags)
	return r, nil
}

// Techniques are the ATT&CK technique IDs the attack.tNNNN[.NNN] tags
// name, upper case, each once, in the tags' order.
func Techniques(tags []string) []string {
	out := []string{}
	for _, t := range tags {
		m := techniqueRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(t)))
		if m == nil {
			continue
		}
		id := strings.ToUpper(m[1])
		if attackid.IsTechniqueOrSub(id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// logsource keeps the product, category and service of a logsource
// mapping (one at least: a logsource says where the events come from).
func logsource(n ast.Node) (map[string]string, error) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return nil, errors.New("a mapping of product, category and service is expected")
	}
	out := map[string]string{}
	for _, v := range m.Values {
		key := v.Key.String()
		if key != "product" && key != "category" && key != "service" {
			continue
		}
		var s string
		if err := scalar(v.Value, &s); err != nil {
			return nil, err
		}
		if s = strings.TrimSpace(s); s != "" {
			if err := textrule.Check(s); err != nil {
				return nil, fmt.Errorf("%s %w", key, err)
			}
			out[key] = s
		}
	}
	if len(out) == 0 {
		return nil, errors.New("none of product, category or service is given")
	}
	return out, nil
}

// scalar reads a scalar node as text (a date stays as written).
func scalar(n ast.Node, dst *string) error {
	switch n.Type() {
	case ast.MappingType, ast.SequenceType, ast.MappingValueType:
		return errors.New("text is expected, not a list or a mapping")
	}
	if tk := n.GetToken(); tk != nil && n.Type() != ast.StringType && n.Type() != ast.LiteralType {
		*dst = tk.Value
		return nil
	}
	return yaml.NodeToValue(n, dst)
}

// parse runs go-yaml's parser on the checked tokens, turning its panics
// (it has some on odd input) into errors.
func parse(tokens token.Tokens) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML reader failed on this file (%v)", r)
		}
	}()
	return parser.Parse(tokens, 0)
}

// lineOf is the line a go-yaml error names, else fallback (or 0).
func lineOf(err error, fallback ...int) int {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			return tk.Position.Line
		}
	}
	if len(fallback) > 0 {
		return fallback[0]
	}
	return 0
}

// messageOf is a go-yaml error's message without its position and source
// excerpt (the line is reported on its own).
func messageOf(err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) {
		return ye.GetMessage()
	}
	return err.Error()
}

func nodeLine(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// docLine is the line a document starts on: its "---" if it has one.
func docLine(d *ast.DocumentNode) int {
	if d.Start != nil && d.Start.Position != nil {
		return d.Start.Position.Line
	}
	return nodeLine(d.Body)
}

// textRuleMax is the length of a string column of the catalogue.
func textRuleMax(field string) int { return textrule.For(schema.DetectionRule{}, field).Max }
