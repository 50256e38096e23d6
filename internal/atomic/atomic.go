// Package atomic reads Atomic Red Team technique files (atomics/T*/T*.yaml,
// spec: redcanaryco/atomic-red-team atomic_red_team/spec.yaml) and turns
// each atomic test into the content of a Violet test template.
package atomic

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"violet/internal/attackid"
	"violet/internal/parselimit"
)

// File is one technique file.
type File struct {
	AttackTechnique string `yaml:"attack_technique"`
	DisplayName     string `yaml:"display_name"`
	Tests           []Test `yaml:"atomic_tests"`
}

// Test is one atomic test.
type Test struct {
	Name                   string              `yaml:"name"`
	GUID                   string              `yaml:"auto_generated_guid"`
	Description            string              `yaml:"description"`
	Platforms              []string            `yaml:"supported_platforms"`
	InputArguments         map[string]Argument `yaml:"input_arguments"`
	DependencyExecutorName string              `yaml:"dependency_executor_name"`
	Dependencies           []Dependency        `yaml:"dependencies"`
	Executor               Executor            `yaml:"executor"`
}

// Argument is an input argument, interpolated as #{name}.
type Argument struct {
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
	Default     any    `yaml:"default"`
}

// Dependency is a prerequisite with the commands that check and get it.
type Dependency struct {
	Description      string `yaml:"description"`
	PrereqCommand    string `yaml:"prereq_command"`
	GetPrereqCommand string `yaml:"get_prereq_command"`
}

// Executor runs the test: a command for a shell, or steps for a person.
type Executor struct {
	Name              string `yaml:"name"`
	ElevationRequired bool   `yaml:"elevation_required"`
	Command           string `yaml:"command"`
	Steps             string `yaml:"steps"`
	CleanupCommand    string `yaml:"cleanup_command"`
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// MaxFileSize bounds one technique file; upstream's largest is well under
// a megabyte.
const MaxFileSize = 4 << 20

// Limits are checked before the YAML reader runs (see parselimit). The
// deepest upstream file nests 12 levels, so 64 refuses only files made to
// crash the reader. The largest upstream file estimates at under 17,000
// tokens; 200,000 is twelve times that, and bounds what the reader holds
// (about 800 bytes a token at its peak) to some 160 MB for a file made of
// nothing but tokens.
const (
	MaxDepth  = 64
	MaxTokens = 200_000
)

// Parse reads one technique file. Everything wrong with it is an error
// naming the problem: not YAML, wrong types, no technique or an ID that is
// not one, a test without a name, GUID or executor.
func Parse(data []byte) (*File, error) {
	// Nesting crashes the reader and aliases expand exponentially (a few
	// hundred bytes of nested *refs take seconds and gigabytes); upstream
	// technique files use neither.
	tokens, err := parselimit.YAMLTokens(data, parselimit.Limits{MaxBytes: MaxFileSize, MaxDepth: MaxDepth, MaxTokens: MaxTokens})
	if err != nil {
		return nil, fmt.Errorf("not a valid Atomic Red Team file: %w", err)
	}
	var f File
	if err := decodeTokens(tokens, data, &f, yaml.Strict()); err != nil {
		// Upstream files may carry fields Violet does not know; only
		// complain about those when the lenient read fails too.
		if err2 := decodeYAML(data, &f); err2 != nil {
			return nil, fmt.Errorf("not a valid Atomic Red Team file: %s", firstLine(yaml.FormatError(err2, false, false)))
		}
	}
	if strings.TrimSpace(f.AttackTechnique) == "" {
		return nil, errors.New("no attack_technique: not an Atomic Red Team technique file")
	}
	f.AttackTechnique = strings.ToUpper(strings.TrimSpace(f.AttackTechnique))
	if !attackid.IsTechniqueOrSub(f.AttackTechnique) {
		return nil, fmt.Errorf("attack_technique %q is not an ATT&CK technique ID (T1234 or T1234.001)", f.AttackTechnique)
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s has no atomic_tests", f.AttackTechnique)
	}
	seen := map[string]bool{}
	for i, t := range f.Tests {
		where := fmt.Sprintf("test %d", i+1)
		if strings.TrimSpace(t.Name) == "" {
			return nil, fmt.Errorf("%s has no name", where)
		}
		where = fmt.Sprintf("test %d (%q)", i+1, t.Name)
		if !guidRE.MatchString(t.GUID) {
			return nil, fmt.Errorf("%s: auto_generated_guid %q is not a GUID", where, t.GUID)
		}
		key := strings.ToLower(t.GUID)
		if seen[key] {
			return nil, fmt.Errorf("%s: auto_generated_guid %s appears twice", where, t.GUID)
		}
		seen[key] = true
		switch {
		case t.Executor.Name == "":
			return nil, fmt.Errorf("%s has no executor name", where)
		case t.Executor.Name == "manual" && strings.TrimSpace(t.Executor.Steps) == "":
			return nil, fmt.Errorf("%s: a manual executor needs steps", where)
		case t.Executor.Name != "manual" && strings.TrimSpace(t.Executor.Command) == "":
			return nil, fmt.Errorf("%s: executor %s has no command", where, t.Executor.Name)
		}
	}
	return &f, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Template is the content of a test template made from an atomic test.
type Template struct {
	ExternalRef   string // the auto_generated_guid, lower-cased
	TechniqueID   string // the ATT&CK ID to tag it with
	Name          string
	Description   string
	Procedure     string // markdown
	Prerequisites string // markdown
	Cleanup       string // markdown
	Platforms     []string
}

// Templates turns the file's tests into template contents.
func (f *File) Templates() []Template {
	out := make([]Template, len(f.Tests))
	for i, t := range f.Tests {
		out[i] = Template{
			ExternalRef:   strings.ToLower(t.GUID),
			TechniqueID:   f.AttackTechnique,
			Name:          strings.TrimSpace(t.Name),
			Description:   strings.TrimSpace(t.Description),
			Procedure:     procedure(t),
			Prerequisites: prerequisites(t),
			Cleanup:       cleanup(t),
			Platforms:     platforms(t.Platforms),
		}
	}
	return out
}

// procedure is the executor as markdown: its name and elevation, the
// command (or the manual steps) with #{arg} placeholders left visible, and
// the table of input arguments with their defaults.
func procedure(t Test) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "**Executor:** `%s`", t.Executor.Name)
	if t.Executor.ElevationRequired {
		b.WriteString(" — elevation required (run as administrator or root)")
	}
	b.WriteString("\n\n")
	if t.Executor.Name == "manual" {
		b.WriteString(strings.TrimSpace(t.Executor.Steps))
		b.WriteString("\n")
	} else {
		fence(&b, language(t.Executor.Name), t.Executor.Command)
	}
	if len(t.InputArguments) > 0 {
		b.WriteString("\n**Input arguments** (referred to as `#{name}` above):\n\n")
		b.WriteString("| Argument | Type | Default | Description |\n|---|---|---|---|\n")
		names := make([]string, 0, len(t.InputArguments))
		for n := range t.InputArguments {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a := t.InputArguments[n]
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", n, cell(strings.ToLower(a.Type)),
				code(fmt.Sprint(orEmpty(a.Default))), cell(a.Description))
		}
	}
	return strings.TrimSpace(b.String())
}

func prerequisites(t Test) string {
	if len(t.Dependencies) == 0 {
		return ""
	}
	lang := language(t.DependencyExecutorName)
	if t.DependencyExecutorName == "" {
		lang = language(t.Executor.Name)
	}
	var b bytes.Buffer
	for i, d := range t.Dependencies {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. %s\n\n", i+1, strings.TrimSpace(d.Description))
		if strings.TrimSpace(d.PrereqCommand) != "" {
			b.WriteString("Check:\n\n")
			fence(&b, lang, d.PrereqCommand)
		}
		if strings.TrimSpace(d.GetPrereqCommand) != "" {
			b.WriteString("\nGet it:\n\n")
			fence(&b, lang, d.GetPrereqCommand)
		}
	}
	return strings.TrimSpace(b.String())
}

func cleanup(t Test) string {
	if strings.TrimSpace(t.Executor.CleanupCommand) == "" {
		return ""
	}
	var b bytes.Buffer
	fence(&b, language(t.Executor.Name), t.Executor.CleanupCommand)
	return strings.TrimSpace(b.String())
}

// fence writes code as a fenced block long enough not to be closed by a
// run of backticks inside it.
func fence(b *bytes.Buffer, lang, code string) {
	ticks := "```"
	for strings.Contains(code, ticks) {
		ticks += "`"
	}
	fmt.Fprintf(b, "%s%s\n%s\n%s\n", ticks, lang, strings.TrimRight(code, "\n"), ticks)
}

func language(executor string) string {
	switch executor {
	case "command_prompt":
		return "bat"
	case "powershell":
		return "powershell"
	case "sh", "bash":
		return "sh"
	}
	return ""
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(cell(s), "`", "'") + "`"
}

// platforms names Atomic's platforms the way ATT&CK does, so that one
// platform filter serves both.
func platforms(in []string) []string {
	names := map[string]string{
		"windows": "Windows", "linux": "Linux", "macos": "macOS", "office-365": "Office Suite",
		"azure-ad": "Identity Provider", "google-workspace": "SaaS", "saas": "SaaS", "iaas": "IaaS",
		"iaas:aws": "IaaS", "iaas:azure": "IaaS", "iaas:gcp": "IaaS", "containers": "Containers",
		"esxi": "ESXi", "network": "Network Devices",
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range in {
		n, ok := names[strings.ToLower(strings.TrimSpace(p))]
		if !ok {
			n = strings.TrimSpace(p)
		}
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// decodeTokens is decodeYAML from the tokens the limits were checked on,
// not tokenising the file again. It reads a file of one document whose
// body is a mapping (every technique file); anything else goes to
// decodeYAML, which knows how go-yaml picks the document of a stream.
func decodeTokens(tokens token.Tokens, data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML reader failed on this file (%v)", r)
		}
	}()
	file, err := parser.Parse(tokens, 0)
	if err != nil || len(file.Docs) != 1 || file.Docs[0].Body == nil || file.Docs[0].Body.Type() != ast.MappingType {
		return decodeYAML(data, v, opts...)
	}
	return yaml.NodeToValue(file.Docs[0].Body, v, opts...)
}

// decodeYAML is yaml.UnmarshalWithOptions returning an error where go-yaml
// (v1.19.2) panics: a nil dereference on an empty tag read into a list
// ("atomic_tests: ! "); one such file would otherwise stop a whole import.
func decodeYAML(data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML reader failed on this file (%v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, opts...)
}
