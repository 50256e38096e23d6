package parselimit_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/goccy/go-yaml"

	"violet/internal/parselimit"
)

var limits = parselimit.Limits{MaxBytes: 8 << 20, MaxDepth: 64, MaxTokens: 300_000}

// refused runs check and asserts it refuses for the limit named, quickly
// and without allocating much (the attacks below took go-yaml to 8 GB).
func refused(t *testing.T, limit string, check func() error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := check()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	var le *parselimit.Error
	if !errors.As(err, &le) || le.Limit != limit {
		t.Fatalf("err = %v, want the %s limit", err, limit)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the check allocated %d MB", alloc>>20)
	}
	if took > 5*time.Second {
		t.Errorf("the check took %v", took)
	}
}

// TestYAMLRefusesTheIssuesAttacks: the shapes of issue 16 are refused
// before go-yaml runs, with an error naming the limit.
func TestYAMLRefusesTheIssuesAttacks(t *testing.T) {
	t.Run("templates: 300,000 nested [ (600 KB)", func(t *testing.T) {
		doc := "violet_library: 1\ntemplates: " + strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000) + "\n"
		refused(t, "tokens", func() error { return parselimit.YAML([]byte(doc), limits) })
	})
	t.Run("nesting under the token bound", func(t *testing.T) {
		doc := "templates: " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n"
		refused(t, "depth", func() error { return parselimit.YAML([]byte(doc), limits) })
		if err := parselimit.YAML([]byte(doc), limits); err.Error() != "nesting deeper than 64 levels" {
			t.Errorf("message %q", err)
		}
	})
	t.Run("flow maps", func(t *testing.T) {
		doc := "a: " + strings.Repeat("{a: ", 100) + "b" + strings.Repeat("}", 100) + "\n"
		refused(t, "depth", func() error { return parselimit.YAML([]byte(doc), limits) })
	})
	t.Run("block sequences on one line", func(t *testing.T) {
		doc := "atomic_tests:\n" + strings.Repeat("- ", 100) + "x\n"
		refused(t, "depth", func() error { return parselimit.YAML([]byte(doc), limits) })
	})
	t.Run("block mappings indented step by step", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("atomic_tests:\n")
		for i := range 100 {
			b.WriteString(strings.Repeat(" ", i+1) + "- k:\n")
		}
		refused(t, "depth", func() error { return parselimit.YAML([]byte(b.String()), limits) })
	})
	t.Run("aliases", func(t *testing.T) {
		doc := "a: &a [x, x]\nb: [*a, *a]\n"
		refused(t, "aliases", func() error { return parselimit.YAML([]byte(doc), limits) })
	})
	t.Run("size", func(t *testing.T) {
		refused(t, "size", func() error {
			return parselimit.YAML(bytes.Repeat([]byte("a"), 1025), parselimit.Limits{MaxBytes: 1024})
		})
	})
}

// TestYAMLReadsItsSyntax: brackets in quotes, comments and block scalars
// are text, not nesting; a sequence at its key's column is one level.
func TestYAMLReadsItsSyntax(t *testing.T) {
	deep := strings.Repeat("[", 100)
	doc := "a: '" + deep + "'\nb: \"" + deep + "\"\n# " + deep + "\nc: |\n  " + deep + "\n  - - - - - -\nd: >-\n  " + deep + "\n" +
		"list:\n- x\n- y\nnext: {k: [1, 2]}\n"
	if err := parselimit.YAML([]byte(doc), parselimit.Limits{MaxDepth: 3}); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil || v["a"] != deep {
		t.Fatalf("the document is not what the test means: %v", err)
	}
}

// TestYAMLRealFiles: every Atomic file of the data set passes, with room.
func TestYAMLRealFiles(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/data/atomic-red-team/atomics/*/*.yaml")
	if len(files) == 0 {
		t.Skip("no Atomic files in ../shared/data")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := parselimit.YAML(data, parselimit.Limits{MaxBytes: 4 << 20, MaxDepth: 16, MaxTokens: 100_000}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestJSONRefusesDeepNesting(t *testing.T) {
	deep := []byte(strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000))
	refused(t, "depth", func() error { return parselimit.JSON(deep, limits) })
	refused(t, "depth", func() error {
		_, err := io.Copy(io.Discard, parselimit.NewJSONReader(bytes.NewReader(deep), limits))
		return err
	})
	refused(t, "size", func() error {
		_, err := io.Copy(io.Discard, parselimit.NewJSONReader(bytes.NewReader(deep), parselimit.Limits{MaxBytes: 1000}))
		return err
	})
}

// TestJSONStrings: brackets inside strings, escaped quotes included, are
// text, also when a read ends in the middle of an escape.
func TestJSONStrings(t *testing.T) {
	doc := []byte(`{"a": "[[[[\"[[[[\\", "b": ["\\\"{{{{"], "c": {"d": "}}}}"}}` + "\n")
	if err := parselimit.JSON(doc, parselimit.Limits{MaxDepth: 2}); err != nil {
		t.Fatal(err)
	}
	r := parselimit.NewJSONReader(iotest.OneByteReader(bytes.NewReader(doc)), parselimit.Limits{MaxDepth: 2})
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("%q, %v", got, err)
	}
	if err := parselimit.JSON(doc, parselimit.Limits{MaxDepth: 1}); err == nil {
		t.Error("depth 2 passed a limit of 1")
	}
}

// TestJSONRealBundles: the real ATT&CK bundles pass, the full one (44 MB)
// in a small part of the time reading it takes.
func TestJSONRealBundles(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/data/attack/*.json")
	if len(files) == 0 {
		t.Skip("no bundles in ../shared/data")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := parselimit.JSON(data, parselimit.Limits{MaxBytes: 128 << 20, MaxDepth: 16}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		t.Logf("%s: %d MB checked in %v", filepath.Base(f), len(data)>>20, time.Since(start))
	}
}
