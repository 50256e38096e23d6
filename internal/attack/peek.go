package attack

import (
	"bytes"
	"strings"
)

// peekHead reads the top-level "type", "id" and "relationship_type" of one
// object of the bundle without decoding the rest: most objects of a full
// bundle (software, groups, mitigations, data components and the
// relationships between them) are skipped on these alone, and decoding
// each whole with encoding/json was most of a sync's time.
//
// raw has been checked as JSON by the decoder. ok is false whenever the
// cheap reading could differ from encoding/json's (not an object, a key
// or value with escapes, a key matching one of ours only without regard to
// case, a value of ours that is not a string): the caller then decodes the
// object the slow way, so both ways agree on every input.
func peekHead(raw []byte) (h head, relType string, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return h, "", false
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return h, "", false
		}
		switch raw[i] {
		case '}':
			return h, relType, true
		case ',':
			i = skipSpace(raw, i+1)
		}
		if i >= len(raw) || raw[i] != '"' {
			return h, "", false
		}
		key, next, plain := stringAt(raw, i)
		if !plain {
			return h, "", false
		}
		i = skipSpace(raw, next)
		if i >= len(raw) || raw[i] != ':' {
			return h, "", false
		}
		i = skipSpace(raw, i+1)
		var dst *string
		switch string(key) {
		case "type":
			dst = &h.Type
		case "id":
			dst = &h.ID
		case "relationship_type":
			dst = &relType
		default:
			if bytes.EqualFold(key, []byte("type")) || bytes.EqualFold(key, []byte("id")) ||
				bytes.EqualFold(key, []byte("relationship_type")) {
				return h, "", false // encoding/json would take it: let it
			}
		}
		if dst != nil {
			if i >= len(raw) || raw[i] != '"' {
				return h, "", false
			}
			v, next, plain := stringAt(raw, i)
			if !plain {
				return h, "", false
			}
			*dst, i = string(v), next
			continue
		}
		if i = skipValue(raw, i); i < 0 {
			return h, "", false
		}
	}
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\n' || raw[i] == '\r' || raw[i] == '\t') {
		i++
	}
	return i
}

// stringAt returns the contents of the JSON string starting at raw[i] (a
// quote) and the index after it; plain is false when it has escapes or
// does not end.
func stringAt(raw []byte, i int) (s []byte, next int, plain bool) {
	end := bytes.IndexByte(raw[i+1:], '"')
	if end < 0 {
		return nil, -1, false
	}
	s = raw[i+1 : i+1+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, -1, false
	}
	return s, i + end + 2, true
}

// skipValue returns the index after the JSON value starting at raw[i], or
// -1. The value is valid JSON, so only strings and nesting need care.
func skipValue(raw []byte, i int) int {
	depth := 0
	for i < len(raw) {
		switch c := raw[i]; c {
		case '"':
			q, _ := stringEnd(raw, i+1)
			if q < 0 {
				return -1
			}
			i = q + 1
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the object holding a number or literal
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		default:
			if depth == 0 && (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

// isStixID reports whether id is "<typ>--<36 hex digits and dashes>", what
// stixIDRE matched with typ as its first group, without a regexp per
// object.
func isStixID(id, typ string) bool {
	rest, ok := strings.CutPrefix(id, typ)
	if !ok || len(rest) != 38 || rest[0] != '-' || rest[1] != '-' {
		return false
	}
	for _, c := range []byte(typ) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	for _, c := range []byte(rest[2:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return typ != ""
}
