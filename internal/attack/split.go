package attack

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// readObjects reads the elements of the bundle's "objects" list from r,
// which starts just after its '[', and hands each to p.add. It returns
// what follows the closing ']' (the rest of the top-level object).
//
// json.Decoder.Decode scans each element twice (once to find its end,
// once more to copy it out) and was most of the reading time of a full
// bundle: here one tight loop finds each element's end, validJSON checks
// it, and the element is handed over without a copy when it lies within
// the buffer. (Cutting and checking in a goroutine of its own while this
// one decodes was tried: no faster on the busy 2-core machine, so not
// kept.)
func readObjects(r io.Reader, p *parser) (io.Reader, error) {
	s := &splitter{r: r, buf: make([]byte, 256<<10)}
	for i := 0; ; i++ {
		c, err := s.nonSpace()
		if err != nil {
			return nil, invalid("not JSON: %v", jsonError(err))
		}
		if c == ']' && i == 0 {
			s.pos++
			return s.rest(), nil
		}
		raw, err := s.value()
		if err != nil {
			return nil, invalid("object %d: not JSON: %v", i+1, jsonError(err))
		}
		if !validJSON(raw) {
			var v any
			err := json.Unmarshal(raw, &v)
			if err == nil { // cannot be: validJSON and json.Valid agree
				err = errors.New("invalid JSON")
			}
			return nil, invalid("object %d: not JSON: %v", i+1, err)
		}
		if err := p.add(i+1, raw); err != nil {
			return nil, err
		}
		c, err = s.nonSpace()
		if err != nil {
			return nil, invalid("not JSON: %v", jsonError(err))
		}
		s.pos++
		switch c {
		case ',':
		case ']':
			return s.rest(), nil
		default:
			return nil, invalid("object %d: not JSON: invalid character %q after array element", i+1, c)
		}
	}
}

// splitter cuts a stream into JSON values without decoding them.
type splitter struct {
	r        io.Reader
	buf      []byte
	pos, end int
	acc      []byte // a value that spans buffer refills
}

// fill reads more into the buffer once it is all consumed.
func (s *splitter) fill() error {
	for s.pos >= s.end {
		n, err := s.r.Read(s.buf)
		s.pos, s.end = 0, n
		if n > 0 {
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nonSpace returns the next byte that is not white space, without
// consuming it.
func (s *splitter) nonSpace() (byte, error) {
	for {
		if err := s.fill(); err != nil {
			return 0, err
		}
		for ; s.pos < s.end; s.pos++ {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\r', '\n':
			default:
				return c, nil
			}
		}
	}
}

// value returns the bytes of the value that starts at the current
// position: an object or array up to its matching close, a string up to
// its closing quote, anything else up to the next ',', ']', '}' or white
// space. Brackets are matched only by depth; json.Valid checks the rest.
// The slice is valid until the next call.
func (s *splitter) value() ([]byte, error) {
	var (
		depth     int
		inString  bool
		escaped   bool
		spanning  bool
		start     = s.pos
		scalarEnd = func(c byte) bool {
			return c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\r' || c == '\n'
		}
	)
	s.acc = s.acc[:0]
	scalar := false
	if s.pos < s.end {
		c := s.buf[s.pos]
		scalar = c != '{' && c != '[' && c != '"'
	}
	for {
		buf := s.buf[:s.end]
		i := s.pos
		for ; i < len(buf); i++ {
			c := buf[i]
			if inString {
				if escaped {
					escaped = false
					continue
				}
				q, esc := stringEnd(buf, i)
				switch {
				case q >= 0:
					inString, i = false, q
					if depth == 0 {
						return s.cut(start, i+1, spanning), nil
					}
				case esc:
					escaped, i = true, len(buf)-1
				default:
					i = len(buf) - 1
				}
				continue
			}
			if scalar {
				if scalarEnd(c) {
					return s.cut(start, i, spanning), nil
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return s.cut(start, i+1, spanning), nil
				}
			}
		}
		s.acc = append(s.acc, buf[start:]...)
		s.pos, spanning, start = len(buf), true, 0
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// cut consumes the value ending before buf[end] and returns its bytes.
func (s *splitter) cut(start, end int, spanning bool) []byte {
	s.pos = end
	if !spanning {
		return s.buf[start:end]
	}
	s.acc = append(s.acc, s.buf[start:end]...)
	return s.acc
}

// rest is the unread stream: the buffered bytes, then the reader.
func (s *splitter) rest() io.Reader {
	return io.MultiReader(bytes.NewReader(s.buf[s.pos:s.end]), s.r)
}

// stringEnd finds the closing quote of a string whose contents go on at
// buf[i]: its index, or -1 when buf ends first, with esc set when buf
// ends on an escaping backslash. Quotes are found with bytes.IndexByte,
// much faster than a loop over the long descriptions.
func stringEnd(buf []byte, i int) (q int, esc bool) {
	for {
		k := bytes.IndexByte(buf[i:], '"')
		seg := buf[i:]
		if k >= 0 {
			seg = seg[:k]
		}
		b := bytes.IndexByte(seg, '\\')
		if b < 0 {
			if k < 0 {
				return -1, false
			}
			return i + k, false
		}
		i += b + 2 // the backslash and the byte it escapes
		if i > len(buf) {
			return -1, true
		}
		if i == len(buf) {
			return -1, false
		}
	}
}
