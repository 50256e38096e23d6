package atomic_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"violet/internal/atomic"
	"violet/internal/attackid"
)

// FuzzParse is issue 9's fuzzing of the Atomic Red Team reader: whatever
// the bytes, Parse never panics and reports problems as errors; a file it
// accepts has a technique ID and tests that Templates turns into named
// templates without panicking.
func FuzzParse(f *testing.F) {
	fixture, err := os.ReadFile("testdata/T9999.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture)
	f.Add(fixture[:len(fixture)/2])
	f.Add(bytes.Replace(fixture, []byte("default: 3"), []byte("default: 1e999999"), 1))
	f.Add(bytes.Replace(fixture, []byte("default: 3"), []byte("default: 123456789012345678901234567890"), 1))
	f.Add(bytes.Replace(fixture, []byte("name: bash\n"), []byte("name: \"\\0\\xff\"\n"), 1))
	for _, s := range []string{
		"",
		"\x00",
		"---\n...\n",
		"attack_technique: T1059",
		"attack_technique: [T1059]",
		"attack_technique: T1059\natomic_tests: x",
		"attack_technique: T1059\natomic_tests:\n- name: n\n  auto_generated_guid: 0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa\n  executor: {name: sh, command: id}\n",
		"attack_technique: T1059\natomic_tests:\n- name: n\n  auto_generated_guid: 0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa\n  input_arguments: {a: {default: !!binary AAAA}}\n  executor: {name: sh, command: \"#{a}\"}\n",
		"attack_technique: T1059\natomic_tests:\n- &a {name: n, auto_generated_guid: 0b0a0e86-1111-4d2e-9e7a-aaaaaaaaaaaa, executor: {name: manual, steps: s}}\n- *a\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\ne: &e [*d, *d]\nattack_technique: T1059\n",
		"attack_technique: *undefined\n",
		"attack_technique: T1059\natomic_tests: " + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "\n",
		"attack_technique: T1059\natomic_tests: " + strings.Repeat("{a: ", 1000) + "1" + strings.Repeat("}", 1000) + "\n",
		"attack_technique: T1059\natomic_tests:\n- name: \xff\xfe\x00\n",
		"attack_technique: \"T1059\\u0000\"\n",
		"\t- :\n  ? [\n",
		"%YAML 9.9\n---\nattack_technique: T1059\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := atomic.Parse(data)
		if err != nil {
			if file != nil {
				t.Fatalf("Parse: a file with the error %v", err)
			}
			if err.Error() == "" {
				t.Fatal("Parse: an error without a message")
			}
			return
		}
		if !attackid.IsTechniqueOrSub(file.AttackTechnique) || len(file.Tests) == 0 {
			t.Fatalf("Parse accepted technique %q with %d tests", file.AttackTechnique, len(file.Tests))
		}
		for _, tmpl := range file.Templates() {
			if tmpl.Name == "" || tmpl.ExternalRef == "" || tmpl.TechniqueID != file.AttackTechnique {
				t.Fatalf("template %+v from technique %s", tmpl, file.AttackTechnique)
			}
		}
	})
}
