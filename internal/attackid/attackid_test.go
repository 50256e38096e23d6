package attackid_test

import (
	"regexp"
	"testing"

	"violet/internal/attackid"
)

// The regular expressions the checks replaced (issue 17): the oracle the
// table and the fuzz target compare with.
var (
	tacticRE    = regexp.MustCompile(`^TA\d{4}$`)
	techniqueRE = regexp.MustCompile(`^T\d{4}$`)
	subRE       = regexp.MustCompile(`^T\d{4}\.\d{3}$`)
	eitherRE    = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	// prefixRE is the start of an ID with at least one digit.
	prefixRE = regexp.MustCompile(`^(TA\d{1,4}|T\d{1,4}|T\d{4}\.\d{0,3})$`)
)

func TestKinds(t *testing.T) {
	cases := []struct {
		in                string
		tactic, tech, sub bool
		parent            string
		prefix            bool
	}{
		{in: "TA0001", tactic: true, prefix: true},
		{in: "T1059", tech: true, prefix: true},
		{in: "T1059.001", sub: true, parent: "T1059", prefix: true},
		{in: ""},
		{in: "T"},
		{in: "TA"},
		{in: "T1", prefix: true},
		{in: "TA00", prefix: true},
		{in: "T1059.", prefix: true},
		{in: "T1059.00", prefix: true},
		{in: "TA0001.", prefix: false}, // tactics have no sub-techniques
		{in: "T1.1", prefix: false},    // the dot comes after four digits
		{in: "TA00001"},                // five digits
		{in: "T10590"},                 // five digits
		{in: "T1059.0001"},             // four digits after the dot
		{in: "t1059"},                  // callers upper-case first
		{in: "ta0001"},
		{in: "T1059 "},  // callers trim first
		{in: "T1059\n"}, // not Perl's $: no trailing newline
		{in: "T105a"},
		{in: "T1059x001"},
		{in: "T1059.00a"},
		{in: "T١٠٥٩"}, // Arabic-Indic digits are not \d
		{in: "TX0001"},
		{in: "X1059"},
	}
	for _, c := range cases {
		if got := attackid.IsTactic(c.in); got != c.tactic {
			t.Errorf("IsTactic(%q) = %v", c.in, got)
		}
		if got := attackid.IsTechnique(c.in); got != c.tech {
			t.Errorf("IsTechnique(%q) = %v", c.in, got)
		}
		if got := attackid.IsSubtechnique(c.in); got != c.sub {
			t.Errorf("IsSubtechnique(%q) = %v", c.in, got)
		}
		if got := attackid.IsTechniqueOrSub(c.in); got != (c.tech || c.sub) {
			t.Errorf("IsTechniqueOrSub(%q) = %v", c.in, got)
		}
		if got := attackid.Parent(c.in); got != c.parent {
			t.Errorf("Parent(%q) = %q, want %q", c.in, got, c.parent)
		}
		if got := attackid.IsPrefix(c.in); got != c.prefix {
			t.Errorf("IsPrefix(%q) = %v", c.in, got)
		}
		checkAgainstRegexps(t, c.in)
	}
}

// FuzzMatchesRegexps checks every function against the regular
// expression it replaced.
func FuzzMatchesRegexps(f *testing.F) {
	for _, s := range []string{"TA0001", "T1059", "T1059.001", "T1059.", "T10", "TA00", "T1059\n", "T١٠٥٩"} {
		f.Add(s)
	}
	f.Fuzz(checkAgainstRegexps)
}

func checkAgainstRegexps(t *testing.T, s string) {
	t.Helper()
	if got, want := attackid.IsTactic(s), tacticRE.MatchString(s); got != want {
		t.Errorf("IsTactic(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := attackid.IsTechnique(s), techniqueRE.MatchString(s); got != want {
		t.Errorf("IsTechnique(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := attackid.IsSubtechnique(s), subRE.MatchString(s); got != want {
		t.Errorf("IsSubtechnique(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := attackid.IsTechniqueOrSub(s), eitherRE.MatchString(s); got != want {
		t.Errorf("IsTechniqueOrSub(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := attackid.IsPrefix(s), prefixRE.MatchString(s); got != want {
		t.Errorf("IsPrefix(%q) = %v, regexp says %v", s, got, want)
	}
	if p := attackid.Parent(s); (p != "") != subRE.MatchString(s) || p != "" && !techniqueRE.MatchString(p) {
		t.Errorf("Parent(%q) = %q", s, p)
	}
}
