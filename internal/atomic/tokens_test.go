package atomic

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/goccy/go-yaml"

	"violet/internal/parselimit"
)

// TestDecodeTokensMatchesUnmarshal: reading a file from the tokens its
// limits were checked on (issue 19: the file is tokenised once) gives what
// go-yaml's Unmarshal gives, strict or not, for the upstream files, the
// fixture and odd documents.
func TestDecodeTokensMatchesUnmarshal(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/data/atomic-red-team/atomics/T*/T*.yaml")
	files = append(files, "testdata/T9999.yaml")
	inputs := map[string][]byte{
		"empty":          {},
		"two documents":  []byte("---\n---\nattack_technique: T1059\n"),
		"a list":         []byte("- attack_technique: T1059\n"),
		"one key":        []byte("attack_technique: T1059\n"),
		"unknown field":  []byte("attack_technique: T1059\nsomething: else\natomic_tests: []\n"),
		"wrong type":     []byte("attack_technique: T1059\natomic_tests: x\n"),
		"broken":         []byte("attack_technique: [oops"),
		"flow mapping":   []byte("{attack_technique: T1059, atomic_tests: [{name: n}]}\n"),
		"empty tag list": []byte("attack_technique: T1059\natomic_tests: ! \n"),
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[p] = data
	}
	if len(inputs) < 70 {
		t.Logf("only %d inputs: the upstream files are not beside the checkout", len(inputs))
	}
	for name, data := range inputs {
		tokens, err := parselimit.YAMLTokens(data, parselimit.Limits{MaxBytes: MaxFileSize, MaxDepth: MaxDepth, MaxTokens: MaxTokens})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, strict := range []bool{true, false} {
			var opts []yaml.DecodeOption
			if strict {
				opts = append(opts, yaml.Strict())
			}
			var got, want File
			gotErr, wantErr := decodeTokens(tokens, data, &got, opts...), decodeYAML(data, &want, opts...)
			if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s (strict %v): %+v, %v; Unmarshal gives %+v, %v", name, strict, got, gotErr, want, wantErr)
			}
		}
	}
}

// BenchmarkParseUpstream reads the 70 upstream technique files.
func BenchmarkParseUpstream(b *testing.B) {
	files, _ := filepath.Glob("../../../shared/data/atomic-red-team/atomics/T*/T*.yaml")
	if len(files) == 0 {
		b.Skip("the upstream files are not beside the checkout")
	}
	var all [][]byte
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, data)
	}
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			for _, data := range all {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// What Parse read with before issue 19: the limits, then Unmarshal,
	// which tokenises the file again.
	b.Run("twice-tokenised", func(b *testing.B) {
		for b.Loop() {
			for _, data := range all {
				if err := parselimit.YAML(data, parselimit.Limits{MaxBytes: MaxFileSize, MaxDepth: MaxDepth, MaxTokens: MaxTokens}); err != nil {
					b.Fatal(err)
				}
				var f File
				if err := decodeYAML(data, &f, yaml.Strict()); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
