package sigma_test

import (
	"errors"
	"os"
	"testing"

	"violet/internal/sigma"
)

// FuzzParse: whatever the bytes, Parse returns a rule or a *sigma.Error
// naming the file, and never panics (go-yaml's panics are its errors).
func FuzzParse(f *testing.F) {
	good, err := os.ReadFile("testdata/good.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("title: x\nid: [\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("---\ntitle: a\n---\ntitle: b\n"))
	f.Add([]byte("title: ! \ntags: ! \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := sigma.Parse("f.yml", data)
		var e *sigma.Error
		switch {
		case err == nil && (r == nil || r.UID == "" || r.Title == ""):
			t.Fatalf("accepted without an id or a title: %+v", r)
		case err != nil && (!errors.As(err, &e) || e.File != "f.yml"):
			t.Fatalf("error %v is not a *sigma.Error naming the file", err)
		}
	})
}
