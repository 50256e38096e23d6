package identity_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"violet/ent/schema"
	"violet/internal/identity"
	"violet/internal/textrule"
)

func TestEmail(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            error
	}{
		{"plain", "admin@example.com", "admin@example.com", nil},
		{"trimmed and lower-cased", "  Admin@Example.COM\n", "admin@example.com", nil},
		{"fullwidth", "ａｄｍｉｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "", identity.ErrInvalid}, // a fullwidth @ is no @
		{"fullwidth parts", "ＡＤＭＩＮ@ＥＸＡＭＰＬＥ.ｃｏｍ", "admin@example.com", nil},
		{"ascii specials kept", "a.b+c_d-e@example.com", "a.b+c_d-e@example.com", nil},
		{"unicode local part", "Иван@example.com", "иван@example.com", nil},
		{"unicode domain stored in ascii", "ivan@Bücher.de", "ivan@xn--bcher-kva.de", nil},
		{"a-label kept", "ivan@xn--bcher-kva.de", "ivan@xn--bcher-kva.de", nil},
		{"single-label domain", "root@localhost", "root@localhost", nil},
		{"cyrillic a is another address", "\u0430dmin@example.com", "\u0430dmin@example.com", nil},
		{"zero-width space", "ad\u200bmin@example.com", "", identity.ErrInvisible},
		{"zero-width space in domain", "admin@exam\u200bple.com", "", identity.ErrInvisible},
		{"word joiner", "admin\u2060@example.com", "", identity.ErrInvisible},
		{"zero-width joiner", "ad\u200dmin@example.com", "", identity.ErrInvisible},
		{"right-to-left override", "\u202eadmin@example.com", "", identity.ErrInvisible},
		{"soft hyphen", "ad\u00admin@example.com", "", identity.ErrInvisible},
		{"byte order mark", "\ufeffadmin@example.com", "", identity.ErrInvisible},
		{"hangul filler", "admin\u3164@example.com", "", identity.ErrInvisible},
		{"variation selector", "admin\ufe0f@example.com", "", identity.ErrInvisible},
		{"NUL", "admin\x00@example.com", "", identity.ErrInvisible},
		{"tab inside", "ad\tmin@example.com", "", identity.ErrInvisible},
		{"space inside", "ad min@example.com", "", identity.ErrCharacter},
		{"no-break space inside", "ad\u00a0min@example.com", "", identity.ErrCharacter},
		{"emoji local part", "\U0001F600@example.com", "", identity.ErrCharacter},
		{"invalid UTF-8", "ad\xffmin@example.com", "", identity.ErrInvalid},
		{"empty", "  ", "", identity.ErrEmpty},
		{"no at", "admin.example.com", "", identity.ErrInvalid},
		{"no local part", "@example.com", "", identity.ErrInvalid},
		{"no domain", "admin@", "", identity.ErrInvalid},
		{"trailing dot", "admin@example.com.", "", identity.ErrInvalid},
		{"underscore in domain", "admin@ex_ample.com", "", identity.ErrInvalid},
		{"display name form", "Admin <admin@example.com>", "", identity.ErrCharacter},
		{"two ats", "a@b@example.com", "", identity.ErrInvalid},
		{"too long", strings.Repeat("a", 64) + "@" + strings.Repeat(strings.Repeat("b", 50)+".", 4) + "com", "", identity.ErrTooLong},
		{"far too long", strings.Repeat("a", 6000) + "@example.com", "", identity.ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identity.Email(tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("Email(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestEmailKeepsStoredASCII: every plain ASCII address normalises to
// itself lower-cased, the form Violet stored before, so old accounts sign
// in unchanged.
func TestEmailKeepsStoredASCII(t *testing.T) {
	for _, s := range []string{"admin@example.com", "o'brien+tag@sub.example.org", "x@xn--bcher-kva.de", "a.b@localhost"} {
		if got := identity.LoginEmail(strings.ToUpper(s)); got != strings.ToLower(s) {
			t.Errorf("LoginEmail(%q) = %q, want %q", strings.ToUpper(s), got, strings.ToLower(s))
		}
	}
	// An address that does not normalise is looked up as it was stored.
	if got := identity.LoginEmail(" Odd_Domain@Ex_ample.com "); got != "odd_domain@ex_ample.com" {
		t.Errorf("LoginEmail of an old address = %q", got)
	}
}

func TestDisplayName(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            error
	}{
		{"plain", "Ada Lovelace", "Ada Lovelace", nil},
		{"case kept", "ADMIN", "ADMIN", nil},
		{"spaces collapsed and trimmed", "  Ada \u00a0  Lovelace\u3000", "Ada Lovelace", nil},
		{"fullwidth", "Ａｄａ", "Ada", nil},
		{"compatibility ligature", "\ufb01n", "fin", nil},
		{"accents composed", "Jose\u0301", "José", nil},
		{"cyrillic", "Иван Петров", "Иван Петров", nil},
		{"zero-width space", "Ad\u200bmin", "", identity.ErrInvisible},
		{"word joiner", "Admin\u2060", "", identity.ErrInvisible},
		{"bidi override", "Admin\u202e", "", identity.ErrInvisible},
		{"braille blank", "Admin\u2800", "", identity.ErrInvisible},
		{"NUL", "Ad\x00min", "", identity.ErrInvisible},
		{"newline", "Ad\nmin", "", identity.ErrInvisible},
		{"empty", " \u3000 ", "", identity.ErrEmpty},
		{"100 characters", strings.Repeat("é", 100), strings.Repeat("é", 100), nil},
		{"101 characters", strings.Repeat("é", 101), "", identity.ErrTooLong},
		{"huge", strings.Repeat("a", 5000), "", identity.ErrTooLong},
		{"invalid UTF-8", "Ad\xffmin", "", identity.ErrCharacter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identity.DisplayName(tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("DisplayName(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	same := func(t *testing.T, key func(string) string, a, b string, want bool) {
		t.Helper()
		if got := key(a) == key(b); got != want {
			t.Errorf("keys of %q (%q) and %q (%q) equal: %v, want %v", a, key(a), b, key(b), got, want)
		}
	}
	cyrillic, _ := identity.Email("\u0430dmin@example.com")
	domain, _ := identity.Email("admin@ex\u0430mple.com")
	same(t, identity.Key, "admin@example.com", cyrillic, true)
	same(t, identity.Key, "admin@example.com", domain, true)
	same(t, identity.Key, "admin@example.com", "adrnin@example.com", true) // rn reads as m
	same(t, identity.Key, "admin@example.com", "admins@example.com", false)
	same(t, identity.NameKey, "Admin", "\u0410dmin", true)
	same(t, identity.NameKey, "Admin", "ADMIN", true)
	same(t, identity.NameKey, "Admin", "Adm1n", false)
	same(t, identity.NameKey, "Ada Lovelace", "Ada  Lovelace", true)
	same(t, identity.NameKey, "Ada Lovelace", "Ada Byron", false)
}

func TestMixedScript(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"Admin", false},
		{"\u0410dmin", true}, // Cyrillic А then Latin
		{"Иван Петров", false},
		{"Иван Petrov", false}, // one script a word
		{"Pаvel", true},
		{"Ωmega", true},
		{"山田 太郎", false},
		{"やまだ太郎", false},    // Hiragana with Han: Japanese
		{"Tanaka太郎", false}, // Latin with Han is allowed
		{"김철수", false},
		{"김やまだ", true}, // Hangul with kana
		{"Ива太郎", true},
		{"José-María O'Neil 2", false},
	} {
		if got := identity.MixedScript(tc.in); got != tc.want {
			t.Errorf("MixedScript(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"admin@example.com", false},
		{"\u0430dmin@example.com", true},
		{"иван@example.com", false},
		{"admin@xn--exmple-4nf.com", true}, // exаmple.com, Cyrillic а
		{"ivan@xn--bcher-kva.de", false},
	} {
		if got := identity.EmailMixedScript(tc.in); got != tc.want {
			t.Errorf("EmailMixedScript(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// BenchmarkKeys measures what Check spends on one account: the keys of
// its address and name.
func BenchmarkKeys(b *testing.B) {
	emails := make([]string, 1000)
	names := make([]string, 1000)
	for i := range emails {
		emails[i] = "firstname.lastname" + strconv.Itoa(i) + "@example.com"
		names[i] = "Firstname Lastname " + strconv.Itoa(i)
	}
	b.ResetTimer()
	for i := range b.N {
		_ = identity.Key(emails[i%len(emails)])
		_ = identity.NameKey(names[i%len(names)])
	}
}

// TestLimitsAreTheSchemas: the package's limits are the users table's, as
// the ent schema declares them (constants here, since the input bounds are
// computed from them; this test keeps them one rule).
func TestLimitsAreTheSchemas(t *testing.T) {
	if got := textrule.For(schema.User{}, "email"); got.Max != identity.MaxEmailLen || !got.Bytes {
		t.Errorf("users.email is %+v, identity.MaxEmailLen %d bytes", got, identity.MaxEmailLen)
	}
	if got := textrule.For(schema.User{}, "display_name"); got.Max != identity.MaxDisplayNameLen || got.Bytes {
		t.Errorf("users.display_name is %+v, identity.MaxDisplayNameLen %d characters", got, identity.MaxDisplayNameLen)
	}
}
