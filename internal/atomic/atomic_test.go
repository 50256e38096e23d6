package atomic_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"violet/internal/atomic"
)

func TestParseFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/T9999.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := atomic.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	tpl := f.Templates()
	if len(tpl) != 2 {
		t.Fatalf("%d templates, want 2", len(tpl))
	}
	script, manual := tpl[0], tpl[1]
	checks := []struct {
		name string
		ok   bool
	}{
		{"technique", script.TechniqueID == "T9999.001"},
		{"guid as external reference", script.ExternalRef == "0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa"},
		{"name", script.Name == "Run a script with an argument"},
		{"description kept as markdown", script.Description == "Runs `#{script}` with **bash**."},
		{"platforms named like ATT&CK", slices.Equal(script.Platforms, []string{"Linux", "macOS"})},
		{"executor and elevation", strings.HasPrefix(script.Procedure, "**Executor:** `bash` — elevation required")},
		{"command with placeholders visible", strings.Contains(script.Procedure, "```sh\nfor i in $(seq #{count}); do bash #{script}; done\n```")},
		{"argument table with defaults", strings.Contains(script.Procedure, "| `count` | integer | `3` | how many times |") &&
			strings.Contains(script.Procedure, "| `script` | path | `/tmp/atomic.sh` | the script \\| to run |")},
		{"prerequisites", strings.Contains(script.Prerequisites, "1. The script exists") &&
			strings.Contains(script.Prerequisites, "Check:\n\n```sh\ntest -f #{script}\n```") &&
			strings.Contains(script.Prerequisites, "Get it:")},
		{"cleanup", script.Cleanup == "```sh\nrm -f #{script}\n```"},
		{"manual steps", strings.Contains(manual.Procedure, "**Executor:** `manual`") && strings.Contains(manual.Procedure, "2. Click it")},
		{"manual has no cleanup", manual.Cleanup == "" && manual.Prerequisites == ""},
		{"manual platforms", slices.Equal(manual.Platforms, []string{"Windows", "Office Suite"})},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.name, script)
		}
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	good, _ := os.ReadFile("testdata/T9999.yaml")
	cases := []struct{ name, body, want string }{
		{"not YAML", "attack_technique: [unclosed\n  - : :", "not a valid Atomic Red Team file"},
		{"not a technique file", "foo: bar\n", "no attack_technique"},
		{"wrong types", "attack_technique: T1234\natomic_tests: 42\n", "not a valid"},
		{"a technique ID that is not one", strings.Replace(string(good), "T9999.001", "TA0002", 1), `"TA0002" is not an ATT&CK technique ID`},
		{"no tests", "attack_technique: T1234\natomic_tests: []\n", "has no atomic_tests"},
		{"a test without name", strings.Replace(string(good), "- name: Run a script with an argument", "- name: ''", 1), "test 1 has no name"},
		{"a GUID that is not one", strings.Replace(string(good), "0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa", "nope", 1), `"nope" is not a GUID`},
		{"the same GUID twice", strings.Replace(string(good), "0b0a0e86-2222-4d2e-9e7a-bbbbbbbbbbbb", "0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa", 1), "appears twice"},
		{"no command", strings.Replace(string(good), "    command: |\n      for i", "    comment: |\n      for i", 1), "has no command"},
		{"manual without steps", strings.Replace(string(good), "    steps: |", "    notes: |", 1), "needs steps"},
		{"too large", "attack_technique: T1234\n" + strings.Repeat("#", atomic.MaxFileSize), "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atomic.Parse([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestParseRealFiles reads the 70 upstream technique files in
// ../shared/data (CI requires them): every one parses, 433 tests in all.
func TestParseRealFiles(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/data/atomic-red-team/atomics/*/*.yaml")
	if len(files) == 0 {
		if os.Getenv("VIOLET_REAL_DATA_REQUIRED") == "1" {
			t.Fatal("real Atomic Red Team data required")
		}
		t.Skip("no real Atomic Red Team data here")
	}
	tests := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := atomic.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(path), ".yaml"); f.AttackTechnique != want {
			t.Errorf("%s names technique %s", path, f.AttackTechnique)
		}
		for _, tpl := range f.Templates() {
			if tpl.Name == "" || tpl.Procedure == "" || len(tpl.ExternalRef) != 36 {
				t.Errorf("%s: incomplete template %+v", path, tpl)
			}
		}
		tests += len(f.Tests)
	}
	if len(files) != 70 || tests != 433 {
		t.Errorf("%d files, %d tests; want 70 and 433", len(files), tests)
	}
}

// TestParseRefusesAliasBomb: nested YAML anchors expand exponentially
// (seven levels of ten aliases are 10^7 copies from a few hundred bytes);
// a technique file with aliases is refused before anything is expanded.
func TestParseRefusesAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString(`attack_technique: T9999
display_name: Bomb
atomic_tests:
- name: bomb
  supported_platforms: [linux]
  input_arguments:
    x:
      description: x
      type: string
      default: *a7
  executor:
    name: sh
    command: echo #{x}
`)
	start := time.Now()
	_, err := atomic.Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Fatalf("Parse: %v, want the aliases refused", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing took %v", d)
	}
}

// TestParseRefusesDeepNesting: a technique file whose atomic_tests nest
// deeply took go-yaml to gigabytes (issue 16); it is refused before the
// reader runs, quickly, naming the limit.
func TestParseRefusesDeepNesting(t *testing.T) {
	cases := map[string]string{
		"flow":  "attack_technique: T1059\natomic_tests: " + strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000) + "\n",
		"small": "attack_technique: T1059\natomic_tests: " + strings.Repeat("[{a: ", 500) + "x" + strings.Repeat("}]", 500) + "\n",
		"block": "attack_technique: T1059\natomic_tests:\n" + strings.Repeat("- ", 2000) + "x\n",
	}
	for name, body := range cases {
		start := time.Now()
		_, err := atomic.Parse([]byte(body))
		if err == nil || !(strings.Contains(err.Error(), "nesting deeper than 64 levels") || strings.Contains(err.Error(), "YAML tokens")) {
			t.Errorf("%s: err = %v, want the nesting or token limit named", name, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: refused after %v", name, took)
		}
	}
}
