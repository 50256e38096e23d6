package library_test

import (
	"bytes"
	"slices"
	"testing"

	"violet/internal/library"
)

// TestArchiveTechniqueFileNames checks which names in an atomics archive
// are read as technique files: an ATT&CK technique or sub-technique ID
// with a .yaml or .yml extension, nothing else.
func TestArchiveTechniqueFileNames(t *testing.T) {
	names := map[string]bool{
		"atomics/T1059/T1059.yaml":          true,
		"atomics/T1059.001/T1059.001.yml":   true,
		"atomics/T1059/t1059.yaml":          false, // upstream names are upper case
		"atomics/T1059/T1059.YAML":          false,
		"atomics/T1059/T1059.yaml.bak":      false,
		"atomics/T1059/T1059.md":            false,
		"atomics/T1059/T10590.yaml":         false,
		"atomics/T1059.001/T1059.0011.yaml": false,
		"atomics/TA0002/TA0002.yaml":        false, // a tactic has no tests
		"atomics/Indexes/index.yaml":        false,
		"atomics/T1059/.yaml":               false,
	}
	files := map[string][]byte{}
	var want []string
	for name, read := range names {
		files[name] = []byte("attack_technique: x")
		if read {
			want = append(want, name)
		}
	}
	data := zipOf(t, files)
	src, err := library.ReadZip(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range src {
		got = append(got, s.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}
