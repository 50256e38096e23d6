package sigma_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"violet/internal/sigma"
)

func readGood(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSigmaParseGoodRule(t *testing.T) {
	data := readGood(t)
	r, err := sigma.Parse("good.yml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if r.UID != "3b6ab547-8ec2-4991-b9d2-2b06702a48d7" || r.Title != "PowerShell Download Cradle" || r.Status != "test" ||
		r.Level != "high" || r.Author != "Violet tests" || r.Date != "2024-01-02" || r.Modified != "2024-03-04" ||
		r.Description != "Detects a PowerShell download cradle." {
		t.Errorf("fields %+v", r)
	}
	if want := map[string]string{"product": "windows", "category": "ps_script"}; len(r.Logsource) != 2 ||
		r.Logsource["product"] != want["product"] || r.Logsource["category"] != want["category"] {
		t.Errorf("logsource %v, want %v", r.Logsource, want)
	}
	if want := []string{"T1059.001", "T1105"}; !slices.Equal(r.Techniques, want) {
		t.Errorf("techniques %v, want %v (upper case, each once, no CVE)", r.Techniques, want)
	}
	if len(r.Tags) != 5 || !slices.Equal(r.References, []string{"https://example.com/cradle"}) {
		t.Errorf("tags %v references %v", r.Tags, r.References)
	}
	if r.Content != data || len(r.SHA256) != 64 {
		t.Errorf("content kept %v, sha %q", r.Content == data, r.SHA256)
	}
}

// refused parses data and returns its *sigma.Error, failing when it is
// accepted.
func refused(t *testing.T, data string) *sigma.Error {
	t.Helper()
	_, err := sigma.Parse("rule.yml", []byte(data))
	var e *sigma.Error
	if !errors.As(err, &e) {
		t.Fatalf("accepted or not a *sigma.Error: %v", err)
	}
	if e.File != "rule.yml" || !strings.HasPrefix(err.Error(), "rule.yml") {
		t.Errorf("error %q does not name the file", err)
	}
	return e
}

// TestSigmaParseRequiredFields: each required field missing is refused,
// named, on the line of the rule's mapping (a comment first, so the
// mapping starts on line 2).
func TestSigmaParseRequiredFields(t *testing.T) {
	good := "# a rule\n" + readGood(t)
	for _, field := range []string{"id", "title", "logsource", "detection"} {
		t.Run(field, func(t *testing.T) {
			var kept []string
			skipping := false
			for _, line := range strings.Split(good, "\n") {
				if strings.HasPrefix(line, field+":") {
					skipping = true
					continue
				}
				if skipping && strings.HasPrefix(line, " ") {
					continue
				}
				skipping = false
				kept = append(kept, line)
			}
			e := refused(t, strings.Join(kept, "\n"))
			if e.Line != 2 || !strings.Contains(e.Reason, `"`+field+`"`) {
				t.Errorf("%v: want line 2 naming %q", e, field)
			}
		})
	}
	for name, c := range map[string]struct {
		from, to, reason string
		line             int
	}{
		"id not a UUID":      {"id: 3B6AB547-8EC2-4991-B9D2-2B06702A48D7", "id: 42", "not a UUID", 3},
		"empty title":        {"title: PowerShell Download Cradle", "title: ''", "title is empty", 2},
		"logsource a string": {"logsource:\n    product: windows", "logsource: windows\nother:\n    product: windows", "logsource", 18},
		"detection a list":   {"detection:\n    selection:", "detection:\n  - a\nx:\n    selection:", "detection", 23},
		"tags a mapping": {"tags:\n    - attack.execution\n    - attack.t1059.001\n    - attack.T1105\n    - attack.t1059.001\n    - cve.2024-0001",
			"tags:\n    a: b", "tags", 13},
	} {
		t.Run(name, func(t *testing.T) {
			data := "# a rule\n" + strings.Replace(readGood(t), c.from, c.to, 1)
			e := refused(t, data)
			if !strings.Contains(e.Reason, c.reason) || e.Line != c.line {
				t.Errorf("%v: want line %d and %q", e, c.line, c.reason)
			}
		})
	}
}

func TestSigmaParseBadYAMLNamesTheLine(t *testing.T) {
	data := "title: x\nid: 3b6ab547-8ec2-4991-b9d2-2b06702a48d7\nlogsource: {product: windows\ndetection:\n  a: [b\n"
	e := refused(t, data)
	if e.Line < 3 || !strings.Contains(e.Error(), "line ") {
		t.Errorf("%v: want the line of the broken flow mapping (3 or after)", e)
	}
	e = refused(t, "title: x\n  bad: indentation\n")
	if e.Line == 0 {
		t.Errorf("%v: no line", e)
	}
}

func TestSigmaParseRefusesCollectionsAndNonRules(t *testing.T) {
	good := readGood(t)
	e := refused(t, "action: global\ntitle: x\n---\n"+good)
	if e.Line != 3 || !strings.Contains(e.Reason, "2 YAML documents") {
		t.Errorf("collection: %v", e)
	}
	for _, data := range []string{"", "# nothing\n", "- a\n- b\n", "just text\n"} {
		refused(t, data)
	}
	refused(t, strings.Replace(good, "Violet tests", "Violet\x00tests", 1))
	refused(t, strings.Replace(good, "Violet tests", "Violet \xff tests", 1))
	refused(t, strings.Replace(good, "title: PowerShell Download Cradle", "title: "+strings.Repeat("x", 301), 1))
}

// TestSigmaParseLimits: the hardening issue's parser limits (see
// parselimit) refuse a file before the YAML reader runs.
func TestSigmaParseLimits(t *testing.T) {
	good := readGood(t)
	cases := map[string]struct{ data, want string }{
		"size":    {good + "# " + strings.Repeat("x", sigma.MaxFileSize) + "\n", "larger than"},
		"depth":   {good + "x: " + strings.Repeat("[", sigma.MaxDepth+1) + strings.Repeat("]", sigma.MaxDepth+1) + "\n", "nesting deeper"},
		"aliases": {"a: &x [1, 2]\n" + strings.Replace(good, "status: test", "status: *x", 1), "aliases"},
		"tokens":  {good + "x: [" + strings.Repeat("a,", sigma.MaxTokens) + "a]\n", "tokens"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := refused(t, c.data)
			if !strings.Contains(e.Reason, c.want) {
				t.Errorf("%v: want %q", e, c.want)
			}
		})
	}
}
