// Package parselimit refuses documents that would overwhelm a parser,
// before the parser sees them. go-yaml recurses once per level of nesting
// and holds a few hundred bytes per token, so 600 KB of nested "[" took a
// process to 8 GB and recover() could not help; encoding/json holds a
// whole value in memory. The checks here are single passes over the bytes
// that hold no more than a counter per level: a size limit, a bound on
// the tokens (YAML) and a nesting depth limit, each refused with an
// *Error naming the limit.
package parselimit

import "fmt"

// Limits bound one document. A zero field is not checked.
type Limits struct {
	// MaxBytes bounds the document's size.
	MaxBytes int64
	// MaxDepth bounds how deeply collections nest.
	MaxDepth int
	// MaxTokens bounds the YAML tokens the document may hold (an upper
	// estimate of them, see YAML); ignored for JSON, whose parser's memory
	// follows its size.
	MaxTokens int
}

// Error is a document refused for passing a limit.
type Error struct {
	Limit string // "size", "depth", "tokens" or "aliases"
	Max   int64
}

func (e *Error) Error() string {
	switch e.Limit {
	case "size":
		return "the file is larger than " + sizeText(e.Max)
	case "depth":
		return fmt.Sprintf("nesting deeper than %d levels", e.Max)
	case "tokens":
		return fmt.Sprintf("more than %s YAML tokens (values, keys and punctuation)", thousands(e.Max))
	case "aliases":
		return "YAML aliases (*name) are not accepted"
	}
	return "the file passes the limit on " + e.Limit
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
