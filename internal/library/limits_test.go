package library_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/library"
)

// TestParseDocumentRefusesNesting: the document of issue 16 (600 KB whose
// templates are 300,000 nested "[") took the process to 8 GB; it is
// refused before the YAML reader runs, and so is nesting that stays
// under the token bound.
func TestParseDocumentRefusesNesting(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"300,000 nested [", "violet_library: 1\ntemplates: " + strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000) + "\n", "more than 300,000 YAML tokens"},
		{"1,000 nested [", "violet_library: 1\ntemplates: " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n", "nesting deeper than 64 levels"},
		{"nested block sequences", "violet_library: 1\ntemplates:\n" + strings.Repeat("- ", 5000) + "x\n", "nesting deeper than 64 levels"},
		{"larger than the bound", "violet_library: 1\ntemplates: []\n#" + strings.Repeat("x", library.MaxDocumentBytes), "larger than 8 MB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := library.ParseDocument([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("refused after %v", took)
			}
		})
	}
}

// TestParseDocumentFieldLimits: a document's fields obey the limits of
// the forms (issue 16: a 10 MB description was stored); the error names
// the template and the field.
func TestParseDocumentFieldLimits(t *testing.T) {
	id := uuid.NewString()
	tmpl := func(extra string) string {
		return "violet_library: 1\ntemplates:\n- id: " + id + "\n  name: Dump\n  opsec_level: low\n  source: manual\n" + extra
	}
	cases := []struct{ name, body, want string }{
		{"a 7 MB description (under the document bound)", tmpl("  description: " + strings.Repeat("a", 7<<20) + "\n"), `template 1 ("Dump"): description is longer than 50000 characters`},
		{"a description of 50,001 characters", tmpl("  description: " + strings.Repeat("é", 50_001) + "\n"), "description is longer than 50000"},
		{"a long name", strings.Replace(tmpl(""), "name: Dump", "name: "+strings.Repeat("n", 301), 1), "template 1: name is longer than 300"},
		{"a NUL in the name", strings.Replace(tmpl(""), "name: Dump", `name: "Du\0mp"`, 1), "template 1: name contains a NUL"},
		{"a NUL in the procedure", tmpl("  procedure: \"rm\\0 -rf\"\n"), "procedure contains a NUL"},
		{"a long label", tmpl("  labels: [" + strings.Repeat("l", 51) + "]\n"), "labels:"},
		{"31 labels", tmpl("  labels: [" + strings.Repeat("a,", 30) + "a]\n"), "labels: more than 30"},
		{"a long external ref", tmpl("  external_ref: " + strings.Repeat("r", 101) + "\n"), "external_ref is longer than 100"},
		{"a long scenario name", tmpl("scenarios:\n- id: " + uuid.NewString() + "\n  name: " + strings.Repeat("s", 301) + "\n  tests: []\n"), "scenario 1: name is longer than 300"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := library.ParseDocument([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := library.ParseDocument([]byte(tmpl("  description: " + strings.Repeat("é", 50_000) + "\n"))); err != nil {
		t.Errorf("a description at the limit: %v", err)
	}
}

// TestParseDocumentCounts: the templates of one document are bounded.
func TestParseDocumentCounts(t *testing.T) {
	var b strings.Builder
	b.WriteString("violet_library: 1\ntemplates:\n")
	for i := range library.MaxDocumentTemplates + 1 {
		fmt.Fprintf(&b, "- {id: %s, name: t%d}\n", uuid.NewString(), i)
	}
	_, err := library.ParseDocument([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "holds 5001 templates, more than the 5000") {
		t.Errorf("err = %v", err)
	}
}
