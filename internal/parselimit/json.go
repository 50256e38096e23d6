package parselimit

import (
	"bytes"
	"io"
)

// JSON checks a JSON document against l (size and depth; MaxTokens is
// not used: encoding/json's memory follows the size).
func JSON(data []byte, l Limits) error {
	var s jsonScan
	return s.scan(bytes.TrimSpace(data), l)
}

// NewJSONReader passes r through while checking what it reads against l,
// for documents decoded as a stream (an ATT&CK bundle is tens of MB and
// is never held whole). Once a limit is passed, Read returns the *Error.
func NewJSONReader(r io.Reader, l Limits) io.Reader {
	return &jsonReader{r: r, l: l}
}

type jsonReader struct {
	r   io.Reader
	l   Limits
	s   jsonScan
	err error
}

func (j *jsonReader) Read(p []byte) (int, error) {
	if j.err != nil {
		return 0, j.err
	}
	n, err := j.r.Read(p)
	if serr := j.s.scan(p[:n], j.l); serr != nil {
		j.err = serr
		return 0, serr
	}
	return n, err
}

// jsonScan follows a JSON text byte by byte: inside a string or not,
// after a backslash or not, and how deep the brackets outside strings
// nest. It keeps no other state, so it can be fed in pieces. Text that is
// not JSON is the real parser's to refuse; an unmatched closing bracket
// never takes the depth below zero.
type jsonScan struct {
	read    int64
	depth   int
	inStr   bool
	escaped bool
}

func (s *jsonScan) scan(p []byte, l Limits) error {
	if s.read += int64(len(p)); l.MaxBytes > 0 && s.read > l.MaxBytes {
		return &Error{Limit: "size", Max: l.MaxBytes}
	}
	for len(p) > 0 {
		if s.escaped {
			// The byte after a backslash is escaped, whatever it is.
			s.escaped = false
			p = p[1:]
			continue
		}
		if s.inStr {
			// Jump to the next quote or backslash: strings are most of a
			// bundle's bytes.
			i := bytes.IndexAny(p, `"\`)
			if i < 0 {
				return nil
			}
			if p[i] == '\\' {
				s.escaped = true
			} else {
				s.inStr = false
			}
			p = p[i+1:]
			continue
		}
		i := bytes.IndexAny(p, `"[]{}`)
		if i < 0 {
			return nil
		}
		switch p[i] {
		case '"':
			s.inStr = true
		case '[', '{':
			if s.depth++; l.MaxDepth > 0 && s.depth > l.MaxDepth {
				return &Error{Limit: "depth", Max: int64(l.MaxDepth)}
			}
		default:
			s.depth = max(s.depth-1, 0)
		}
		p = p[i+1:]
	}
	return nil
}
