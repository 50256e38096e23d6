package library

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// TestFingerprintIsStable: the content hashes stored by earlier imports
// (import_hash) are compared with the ones computed now, so fingerprint
// hashes exactly the bytes it always has ("<length>:<part>\x1e" per part),
// or every imported template would look edited.
func TestFingerprintIsStable(t *testing.T) {
	was := func(parts ...string) string {
		h := sha256.New()
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s\x1e", len(p), p)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	for _, parts := range [][]string{
		nil, {""}, {"", ""}, {"a"}, {"Dump LSASS", "Procédure — « été »", "x\x1fy", "\x1e", "1:2", "🙂"},
	} {
		if got, want := fingerprint(parts...), was(parts...); got != want {
			t.Errorf("fingerprint(%q) = %s, was %s", parts, got, want)
		}
	}
	// And against a value written down, not computed.
	if got := fingerprint("a", "b"); got != "4b835806b4750a59c0219f65a83978cc09faca45e43f6f16b8ac1666898e1af3" {
		t.Errorf("fingerprint(a, b) = %s", got)
	}
}
