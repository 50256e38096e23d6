// Package attackid is the one place that knows the shape of MITRE ATT&CK
// IDs: tactics TA0001, techniques T1059, sub-techniques T1059.001. The
// checks are byte comparisons rather than regular expressions because they
// run on every object of a STIX bundle and every tag of an import.
package attackid

// IsTactic reports whether s is a tactic ID: TA and four digits.
func IsTactic(s string) bool {
	return len(s) == 6 && s[0] == 'T' && s[1] == 'A' && digits(s[2:6])
}

// IsTechnique reports whether s is a technique ID: T and four digits.
func IsTechnique(s string) bool {
	return len(s) == 5 && s[0] == 'T' && digits(s[1:5])
}

// IsSubtechnique reports whether s is a sub-technique ID: a technique ID,
// a dot and three digits.
func IsSubtechnique(s string) bool {
	return len(s) == 9 && IsTechnique(s[:5]) && s[5] == '.' && digits(s[6:9])
}

// IsTechniqueOrSub reports whether s is a technique or sub-technique ID:
// what Atomic Red Team and ATT&CK Navigator layers name.
func IsTechniqueOrSub(s string) bool {
	return IsTechnique(s) || IsSubtechnique(s)
}

// Parent is the technique ID a sub-technique ID names (T1053.001 →
// T1053), or "" when sub is not a sub-technique ID.
func Parent(sub string) string {
	if !IsSubtechnique(sub) {
		return ""
	}
	return sub[:5]
}

// IsPrefix reports whether s is the start of a tactic, technique or
// sub-technique ID that has at least one digit (TA00, T10, T1059.0): what a
// search box treats as an ID to look up by prefix. The digit keeps "T" and
// "TA", which start many words, a name search only.
func IsPrefix(s string) bool {
	rest := s
	switch {
	case len(s) >= 3 && s[0] == 'T' && s[1] == 'A':
		// Tactics have no sub-techniques: digits only.
		return len(s) <= 6 && digits(s[2:])
	case len(s) >= 2 && s[0] == 'T':
		rest = s[1:]
	default:
		return false
	}
	if len(rest) <= 4 {
		return digits(rest)
	}
	return len(rest) <= 8 && digits(rest[:4]) && rest[4] == '.' && digits(rest[5:])
}

// digits reports whether s holds only ASCII digits (ATT&CK IDs use no
// other numerals).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
