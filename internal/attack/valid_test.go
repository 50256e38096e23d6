package attack

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzValidJSON holds validJSON and peekHead to encoding/json's answers:
// the same verdict as json.Valid on any bytes, and, where peekHead is
// sure, the same type, id and relationship type as json.Unmarshal.
func FuzzValidJSON(f *testing.F) {
	mini, err := os.ReadFile("testdata/mini-bundle.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mini)
	for _, s := range []string{
		"", " ", "{}", "[]", `""`, "0", "-0", "01", "1.", "1.5e", "1e+5", "-", "true", "tru", "nul", "null ",
		`{"a":1,}`, `[1,]`, `{"a" 1}`, `{"a":1 "b":2}`, `"\u00e9\n"`, `"\x"`, `"\u12"`, "\"\x01\"", `"a\"b"`,
		`{"type":"relationship","id":"relationship--00000000-0000-0000-0000-000000000001","relationship_type":"uses"}`,
		`{"TYPE":"malware","id":"x"}`, `{"type":"a\u0062","id":1}`, `{"type":"a","type":"b","id":"c","x":[{"}":"]"}]}`,
		`{"x":1,"type":"t","y":-2.5e3,"id":"i","z":null}`, `[{"type":"x"}]`, `{"type":null,"id":"a"}`,
		"\"abcdefghijklmnop\x1fqrstuvwxyz\"", "\"\xc3\xa9\xe2\x82\xac\xff\x80\x7f abcdefgh\\\"ijklmnop\"", "\"abcdefgh\"", "\"abcdefg\"\"",
	} {
		f.Add([]byte(s))
	}
	// Every byte at every place of an eight-byte word, for plain8.
	for c := range 256 {
		for at := range 9 {
			b := []byte(`"0123456789abcdef"`)
			b[1+at] = byte(c)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := json.Valid(b)
		if got := validJSON(b); got != valid {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, valid)
		}
		if !valid {
			return
		}
		h, rel, ok := peekHead(b)
		if !ok {
			return
		}
		var want struct {
			Type             string `json:"type"`
			ID               string `json:"id"`
			RelationshipType string `json:"relationship_type"`
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("peekHead(%q) sure, json.Unmarshal: %v", b, err)
		}
		if h.Type != want.Type || h.ID != want.ID || rel != want.RelationshipType {
			t.Fatalf("peekHead(%q) = %q %q %q, json.Unmarshal %q %q %q", b, h.Type, h.ID, rel, want.Type, want.ID, want.RelationshipType)
		}
	})
}
