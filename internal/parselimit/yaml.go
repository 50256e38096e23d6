package parselimit

import (
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// YAML checks a YAML document against l and refuses aliases (they expand
// exponentially, and go-yaml cannot bound them). It runs in two steps so
// that neither can be overwhelmed:
//
//  1. A byte count bounds the tokens go-yaml's scanner can make of the
//     document: a token starts at the start of a word or next to an
//     indicator character, so words + 3 × indicators is never less than
//     the scanner's count. The scanner holds every token at once (about
//     150 bytes each), so this bound is its memory, checked before it runs.
//  2. go-yaml's own scanner, which is iterative (the parser is what
//     recurses), tokenises the document exactly as the parser will
//     (quotes, comments and block scalars included), and the nesting of
//     its tokens is measured: flow brackets count one level each, and
//     block collections one level per indentation step, a sequence
//     written at its key's column included.
func YAML(data []byte, l Limits) error {
	_, err := YAMLTokens(data, l)
	return err
}

// YAMLTokens is YAML returning the tokens it checked, for a caller to
// parse (go-yaml's parser.Parse) rather than tokenise the document a
// second time: tokenising is a third of reading an Atomic file.
func YAMLTokens(data []byte, l Limits) (token.Tokens, error) {
	if l.MaxBytes > 0 && int64(len(data)) > l.MaxBytes {
		return nil, &Error{Limit: "size", Max: l.MaxBytes}
	}
	if l.MaxTokens > 0 && tokenBound(data) > l.MaxTokens {
		return nil, &Error{Limit: "tokens", Max: int64(l.MaxTokens)}
	}
	var (
		stack []level // open block collections, innermost last
		flow  int     // open flow collections
		prev  *token.Token
	)
	tokens := lexer.Tokenize(string(data))
	for _, tk := range tokens {
		switch tk.Type {
		case token.AliasType:
			return nil, &Error{Limit: "aliases"}
		case token.CommentType:
			continue
		case token.DocumentHeaderType, token.DocumentEndType:
			stack, flow = stack[:0], 0
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType:
			if flow == 0 {
				stack = open(stack, tk.Position.Column, true)
			}
		case token.MappingKeyType:
			if flow == 0 {
				stack = open(stack, tk.Position.Column, false)
			}
		case token.MappingValueType:
			if flow == 0 && prev != nil {
				stack = open(stack, prev.Position.Column, false)
			}
		}
		if l.MaxDepth > 0 && len(stack)+flow > l.MaxDepth {
			return nil, &Error{Limit: "depth", Max: int64(l.MaxDepth)}
		}
		prev = tk
	}
	return tokens, nil
}

// level is an open block collection: the column of its entries and
// whether it is a sequence.
type level struct {
	col int
	seq bool
}

// open places a block entry (a "- " when seq, else a key) at col: the
// collections indented deeper are closed, an entry of the collection at
// col continues it, and anything else opens a new level. A key at the
// column of a sequence that hangs from a key ("key:\n- a\nnext: b")
// closes that sequence.
func open(stack []level, col int, seq bool) []level {
	for len(stack) > 0 && stack[len(stack)-1].col > col {
		stack = stack[:len(stack)-1]
	}
	if n := len(stack); n > 0 && stack[n-1].col == col {
		if stack[n-1].seq == seq {
			return stack
		}
		if !seq {
			stack = stack[:n-1]
			if n > 1 && stack[n-2].col == col && !stack[n-2].seq {
				return stack
			}
		}
	}
	return append(stack, level{col: col, seq: seq})
}

// tokenBound is the estimate of step 1: a token starts at the start of
// a word, or right after a flow indicator or a colon ("[a,b]",
// "key:value" in flow), so words + 2 × flow indicators + colons is at
// least the scanner's count for the documents Violet reads.
func tokenBound(data []byte) int {
	n, inWord := 0, false
	for _, b := range data {
		switch b {
		case ' ', '\t', '\n', '\r':
			inWord = false
			continue
		case '[', ']', '{', '}', ',':
			n += 2
		case ':':
			n++
		}
		if !inWord {
			n++
			inWord = true
		}
	}
	return n
}
