package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MixedScript reports whether a display name has a word that mixes
// writing systems, such as Latin with Cyrillic: the usual way to make a
// name that looks like another. Words are compared on their own, so a
// name written in two scripts word by word ("Иван Petrov") is not
// flagged. Japanese, Chinese and Korean, which mix scripts by nature,
// and Latin with any of them are not mixes (UTS 39's "highly
// restrictive" level).
func MixedScript(name string) bool {
	for _, w := range strings.Fields(name) {
		if mixed(w) {
			return true
		}
	}
	return false
}

// EmailMixedScript reports whether an address's local part or one of its
// domain labels (read in Unicode) mixes writing systems.
func EmailMixedScript(email string) bool {
	r := Readable(email)
	at := strings.LastIndexByte(r, '@')
	if at < 0 {
		return mixed(r)
	}
	if mixed(r[:at]) {
		return true
	}
	for _, label := range strings.Split(r[at+1:], ".") {
		if mixed(label) {
			return true
		}
	}
	return false
}

// cjkSet is a set of the writing systems that share characters: Han
// belongs to Japanese, Chinese (with Bopomofo) and Korean; kana to
// Japanese; Hangul to Korean.
type cjkSet uint8

const (
	jpan cjkSet = 1 << iota
	kore
	hanb
)

// mixed reports whether s holds letters of scripts that are not used
// together (UTS 39's "highly restrictive" level): one script, or Latin
// with the scripts of Japanese, Chinese or Korean. Common and Inherited
// characters (digits, punctuation, combining marks) never make a mix.
func mixed(s string) bool {
	cjk := jpan | kore | hanb // the CJK writing systems all CJK letters so far belong to
	seenCJK := false
	other := "" // the one other script seen so far
	for _, r := range s {
		switch name := scriptOf(r); name {
		case "":
			continue
		case "Han":
			seenCJK = true
		case "Hiragana", "Katakana":
			cjk, seenCJK = cjk&jpan, true
		case "Hangul":
			cjk, seenCJK = cjk&kore, true
		case "Bopomofo":
			cjk, seenCJK = cjk&hanb, true
		default:
			if other != "" && other != name {
				return true
			}
			other = name
		}
		if cjk == 0 || seenCJK && other != "" && other != "Latin" {
			return true
		}
	}
	return false
}

// likely are the scripts tried first, so that common names cost a few
// table look-ups rather than one per script Unicode knows.
var likely = []string{"Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul",
	"Arabic", "Hebrew", "Armenian", "Georgian", "Devanagari", "Thai"}

// scriptOf names the script of r, "" for Common and Inherited.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	for _, name := range likely {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return ""
}
