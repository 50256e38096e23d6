package textrule_test

import (
	"errors"
	"strings"
	"testing"

	"violet/ent/schema"
	"violet/internal/textrule"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"plain", nil},
		{"élan – ok", nil},
		{"a\x00b", textrule.ErrNUL},
		{"a\xffb", textrule.ErrInvalidUTF8},
		{"\xed\xa0\x80", textrule.ErrInvalidUTF8}, // a UTF-16 surrogate
	} {
		if got := textrule.Check(tc.in); !errors.Is(got, tc.want) {
			t.Errorf("Check(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestForReadsTheSchema(t *testing.T) {
	email := textrule.For(schema.User{}, "email") // MaxLen(254): bytes
	if email.Max != 254 || !email.Bytes {
		t.Fatalf("email rule = %+v, want 254 bytes", email)
	}
	name := textrule.For(schema.User{}, "display_name") // MaxRuneLen(100)
	if name.Max != 100 || name.Bytes {
		t.Fatalf("display_name rule = %+v, want 100 characters", name)
	}
	if err := name.Check(strings.Repeat("é", 100)); err != nil {
		t.Errorf("100 characters refused: %v", err)
	}
	var tooLong *textrule.TooLongError
	if err := name.Check(strings.Repeat("é", 101)); !errors.As(err, &tooLong) || tooLong.Max != 100 {
		t.Errorf("101 characters: %v, want too long (100)", err)
	}
	if err := email.Check(strings.Repeat("é", 128)); !errors.As(err, &tooLong) {
		t.Errorf("256 bytes of email: %v, want too long", err)
	}
	if err := email.Check("a\x00@example.com"); !errors.Is(err, textrule.ErrNUL) {
		t.Errorf("NUL in email: %v", err)
	}
	if err := email.Check(""); err != nil {
		t.Errorf("empty value: %v", err)
	}
}

func TestForPanicsOnAnUnknownField(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a field the schema lacks")
		}
	}()
	textrule.For(schema.User{}, "no_such_field")
}
