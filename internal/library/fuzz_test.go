package library_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/internal/attackid"
	"violet/internal/library"
)

// FuzzParseDocument is issue 9's fuzzing of the library import, a YAML
// file from another instance or anyone: whatever the bytes, ParseDocument
// does not panic; an accepted document is version 1, its templates named
// with unique UUIDs, a known opsec level and source and well-formed
// ATT&CK IDs, its scenarios named and listing only its templates; and
// written out again as the export writes it (EncodeDocument), it parses
// to the same.
func FuzzParseDocument(f *testing.F) {
	const (
		t1 = "0b5f6a8e-3c1d-4e2f-9a7b-1c2d3e4f5a6b"
		t2 = "1c6a7b9f-4d2e-4f30-8b8c-2d3e4f5a6b7c"
		s1 = "2d7b8c0a-5e3f-4a41-9c9d-3e4f5a6b7c8d"
	)
	good := "# Violet test library (import it in Library → Import)\nviolet_library: 1\nexported_at: 2026-11-27T05:00:00Z\n" +
		"templates:\n- id: " + t1 + "\n  name: Run PowerShell\n  description: |-\n    Runs **encoded** commands.\n    Two lines.\n" +
		"  platforms:\n  - windows\n  opsec_level: high\n  source: atomic\n  external_ref: T1059.001#1\n  labels: [q3, creds]\n" +
		"  attack:\n  - kind: subtechnique\n    id: T1059.001\n  - kind: tactic\n    id: TA0002\n" +
		"- id: " + t2 + "\n  name: Dump LSASS\n  opsec_level: low\n  source: manual\n" +
		"scenarios:\n- id: " + s1 + "\n  name: Credential theft\n  tests: [" + t2 + ", " + t1 + "]\n"
	for _, s := range []string{
		"",
		good,
		"violet_library: 1\ntemplates: []\n",
		"violet_library: 2\ntemplates: []\n",
		"violet_library: [\n",
		"violet_library: 1\ntemplates: yes\n",
		strings.Replace(good, "  source: manual\n", "  source: manual\n  weapon: x\n", 1),
		strings.Replace(good, "Dump LSASS", "' '", 1),
		strings.Replace(good, t2+"\n", t1+"\n", 1),
		strings.Replace(good, "id: T1059.001", "id: T59", 1),
		strings.Replace(good, "kind: tactic", "kind: group", 1),
		strings.Replace(good, "tests: ["+t2, "tests: ["+uuid.Nil.String(), 1),
		"violet_library: 1\ntemplates:\n- &a {id: " + t1 + ", name: x, opsec_level: low, source: manual}\n- *a\n",
		"violet_library: 1\ntemplates:\n- id: " + t1 + "\n  name: \"\\u0000\\x1b[31m\\u202e\"\n  opsec_level: low\n  source: manual\n",
		"violet_library: 1\ntemplates:\n- id: " + t1 + "\n  name: \"a  \\n  \"\n  procedure: \"trailing space \\n\\nx \"\n  opsec_level: low\n  source: manual\n",
		"violet_library: 1\r\ntemplates:\r\n- {id: " + t1 + ", name: \"\\t\", opsec_level: medium, source: manual}\r\n",
		"violet_library: 1\ntemplates:\n- id: " + t1 + "\n  name: x\n  procedure: \"    Get-Process lsass\\nthen dump it\"\n  opsec_level: low\n  source: manual\n",
		"a: &a [*a]\n",
		"violet_library: !!binary AQ==\n",
		strings.Repeat("- ", 500) + "x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := library.ParseDocument(data)
		if err != nil {
			if doc != nil || err.Error() == "" {
				t.Fatalf("ParseDocument(%q) = %v, %q", data, doc, err)
			}
			return
		}
		if doc.Violet != library.FormatVersion {
			t.Fatalf("ParseDocument(%q): version %d", data, doc.Violet)
		}
		ids := map[string]bool{}
		for _, tpl := range doc.Templates {
			if strings.TrimSpace(tpl.Name) == "" || ids[tpl.ID] {
				t.Fatalf("ParseDocument(%q): template %+v", data, tpl)
			}
			if _, err := uuid.Parse(tpl.ID); err != nil {
				t.Fatalf("ParseDocument(%q): template id %q", data, tpl.ID)
			}
			ids[tpl.ID] = true
			switch {
			case tpl.OpsecLevel != "low" && tpl.OpsecLevel != "medium" && tpl.OpsecLevel != "high",
				tpl.Source != "manual" && tpl.Source != "atomic":
				t.Fatalf("ParseDocument(%q): template %+v", data, tpl)
			}
			for _, g := range tpl.Tags {
				ok := (g.Kind == library.KindTactic && attackid.IsTactic(g.ID)) ||
					(g.Kind == library.KindTechnique && attackid.IsTechnique(g.ID)) ||
					(g.Kind == library.KindSubtechnique && attackid.IsSubtechnique(g.ID))
				if !ok {
					t.Fatalf("ParseDocument(%q): tag %+v", data, g)
				}
			}
		}
		for _, s := range doc.Scenarios {
			if strings.TrimSpace(s.Name) == "" {
				t.Fatalf("ParseDocument(%q): scenario %+v", data, s)
			}
			for _, id := range s.Tests {
				if !ids[id] {
					t.Fatalf("ParseDocument(%q): scenario %q lists %q", data, s.Name, id)
				}
			}
		}
		again, err := library.EncodeDocument(doc)
		if err != nil {
			t.Fatalf("ParseDocument(%q) = %+v, which does not encode: %v", data, doc, err)
		}
		back, err := library.ParseDocument(again)
		if err != nil || !reflect.DeepEqual(normal(back), normal(doc)) {
			t.Fatalf("ParseDocument(%q) = %+v;\nwritten out as\n%s\nit parses as %+v (%v)", data, doc, again, back, err)
		}
	})
}

// normal makes a document's absent lists empty ones: YAML writes both as
// [] or leaves both out, so the difference does not survive a round trip
// and means nothing.
func normal(doc *library.Document) *library.Document {
	if doc == nil {
		return nil
	}
	d := *doc
	d.Templates = append([]library.Template{}, d.Templates...)
	for i := range d.Templates {
		t := &d.Templates[i]
		t.Platforms = append([]string{}, t.Platforms...)
		t.Labels = append([]string{}, t.Labels...)
		t.Tags = append([]library.Tag{}, t.Tags...)
	}
	d.Scenarios = append([]library.Scenario{}, d.Scenarios...)
	for i := range d.Scenarios {
		d.Scenarios[i].Tests = append([]string{}, d.Scenarios[i].Tests...)
	}
	return &d
}

// TestEncodeDocumentTexts: multi-line texts are written as literal blocks,
// and texts go-yaml's literal style would change (a first line indented,
// as a markdown code block is; trailing spaces, a markdown line break)
// come back exactly.
func TestEncodeDocumentTexts(t *testing.T) {
	tpl := library.Template{ID: uuid.NewString(), Name: "Dump LSASS", OpsecLevel: "low", Source: "manual",
		Description: "Two lines.\nSecond."}
	doc := &library.Document{Violet: library.FormatVersion, Templates: []library.Template{tpl}}
	out, err := library.EncodeDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "description: |-\n    Two lines.\n    Second.\n") {
		t.Errorf("not a literal block:\n%s", out)
	}
	for _, text := range []string{"    Get-Process lsass\nthen dump it", "ends with a break  \nx  ", "a\n  "} {
		doc.Templates[0].Procedure = text
		out, err := library.EncodeDocument(doc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := library.ParseDocument(out)
		if err != nil || back.Templates[0].Procedure != text {
			t.Errorf("%q written as\n%s\nreads back as %+v (%v)", text, out, back, err)
		}
	}
}

// TestParseDocumentRefusesAliases: a kilobyte of nested aliases would
// expand to gigabytes (minutes of CPU at depth 8); the document is
// refused before it is decoded.
func TestParseDocumentRefusesAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("violet_library: 1\ntemplates:\n- {id: 0b5f6a8e-3c1d-4e2f-9a7b-1c2d3e4f5a60, name: x, labels: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]}\n")
	for i := 1; i < 8; i++ {
		p := fmt.Sprintf("*x%d", i-1)
		fmt.Fprintf(&b, "- {id: 0b5f6a8e-3c1d-4e2f-9a7b-1c2d3e4f5a6%d, name: x, labels: &x%d [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(p+", ", 10), ", "))
	}
	_, err := library.ParseDocument([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Fatalf("err = %v, want aliases refused", err)
	}
}
