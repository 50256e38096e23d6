// Package identity is the one normalisation of what names an account to
// people: its email address and its display name. Two accounts must never
// read the same in the users list, a member picker or the audit log, so
// every address and name goes through here before it is stored or
// compared:
//
//   - invisible and formatting characters (zero-width spaces, joiners,
//     bidirectional controls, control characters) are refused, not
//     silently dropped, so nobody signs up as someone else plus an
//     invisible character;
//   - the local part of an address goes through the PRECIS
//     UsernameCaseMapped profile (RFC 8265: width folded, lower-cased,
//     NFC), its domain through IDNA (UTS 46 lookup mapping, RFC 5891
//     label rules) and is stored in its ASCII form, which is what mail
//     servers use and cannot itself be mistaken for another domain;
//   - a display name goes through the PRECIS Nickname profile (RFC 8266:
//     spaces mapped and collapsed, NFKC), its case kept;
//   - Key and NameKey give the Unicode confusable skeleton (UTS 39) that
//     decides whether two addresses or names look alike.
//
// An ASCII address that Violet stored before this package keeps its exact
// form, so existing accounts still sign in.
package identity

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// Limits, in the units the users table uses.
const (
	// MaxEmailLen is the longest address stored: the users.email column
	// (varchar(254)), itself RFC 5321's longest forward path less its
	// angle brackets.
	MaxEmailLen = 254
	// MaxDisplayNameLen is the longest display name, in characters, as
	// the schema's validator has it.
	MaxDisplayNameLen = 100
	// maxEmailInput and maxNameInput bound what is normalised at all:
	// four bytes for each character allowed (the longest UTF-8 encoding)
	// is more than any usable input needs, width and compatibility forms
	// and spaces that collapse included; anything longer is refused
	// before any work.
	maxEmailInput = 4 * MaxEmailLen
	maxNameInput  = 4 * 4 * MaxDisplayNameLen
)

// Why an address or a name is refused; handlers turn each into a message
// next to the field.
var (
	ErrEmpty     = errors.New("identity: empty")
	ErrTooLong   = errors.New("identity: too long")
	ErrInvisible = errors.New("identity: invisible or formatting character")
	ErrInvalid   = errors.New("identity: not a plain email address")
	ErrCharacter = errors.New("identity: character not allowed")
)

// domains maps and checks the domain of an address: UTS 46 mapping
// (case, width, compatibility forms), non-transitional (ß stays ß), STD3
// rules, hyphen, joiner and Bidi rules, DNS lengths. The profile is read
// only once built.
var domains = idna.New(
	idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(),
	idna.CheckHyphens(true), idna.CheckJoiners(true), idna.VerifyDNSLength(true),
)

// Email returns the stored form of an email address: trimmed, local part
// by PRECIS UsernameCaseMapped, domain in its ASCII (A-label) form. The
// error is one of the package's.
func Email(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", ErrEmpty
	case len(s) > maxEmailInput:
		return "", ErrTooLong
	case !utf8.ValidString(s):
		return "", ErrInvalid
	case hasInvisible(s):
		return "", ErrInvisible
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", ErrInvalid
	}
	local, err := precis.UsernameCaseMapped.String(s[:at])
	if err != nil {
		return "", ErrCharacter
	}
	domain, err := domains.ToASCII(s[at+1:])
	if err != nil || strings.HasSuffix(domain, ".") {
		return "", ErrInvalid
	}
	out := local + "@" + domain
	if len(out) > MaxEmailLen {
		return "", ErrTooLong
	}
	// What is left must be a plain address and nothing else (no display
	// name, no comment, no group), as mail software reads it.
	if a, err := mail.ParseAddress(out); err != nil || a.Address != out || a.Name != "" {
		return "", ErrInvalid
	}
	return out, nil
}

// LoginEmail is the address to look an account up by at sign-in: the
// stored form when s normalises, else s trimmed and lower-cased as Violet
// stored addresses before this package, so that an old account whose
// address no longer normalises can still sign in (and any other input
// simply matches no account).
func LoginEmail(s string) string {
	if e, err := Email(s); err == nil {
		return e
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// DisplayName returns the stored form of a display name by PRECIS
// Nickname: spaces mapped, collapsed and trimmed, NFKC, case kept.
func DisplayName(s string) (string, error) {
	switch {
	case strings.TrimSpace(s) == "":
		return "", ErrEmpty
	case len(s) > maxNameInput:
		return "", ErrTooLong
	case !utf8.ValidString(s):
		return "", ErrCharacter
	case hasInvisible(s):
		return "", ErrInvisible
	}
	out, err := precis.Nickname.String(s)
	switch {
	case err != nil:
		return "", ErrCharacter
	case out == "":
		return "", ErrEmpty
	case utf8.RuneCountInString(out) > MaxDisplayNameLen:
		return "", ErrTooLong
	}
	return out, nil
}

// hasInvisible reports whether s holds a character that shows nothing or
// changes how its neighbours show: controls (Cc), formatting characters
// (Cf: zero-width space, word joiner, bidirectional controls, soft
// hyphen), the other default-ignorable code points (Hangul fillers,
// combining grapheme joiner), variation selectors, and the blank Braille
// pattern, which renders as a space without being one. PRECIS would
// refuse most of them too; checking first gives one clear reason, and
// IDNA would silently delete some of them from a domain.
func hasInvisible(s string) bool {
	for _, r := range s {
		if r < utf8.RuneSelf {
			if r < 0x20 || r == 0x7f {
				return true
			}
			continue
		}
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
			r == '\u2800' {
			return true
		}
	}
	return false
}

// Key is what two email addresses are compared by: the confusable
// skeleton of the address as people read it (its domain in Unicode), so
// that "аdmin@example.com" with a Cyrillic а, or a look-alike domain
// stored as xn--…, has the key of "admin@example.com". stored may be an
// address stored before this package; it is keyed as it stands.
func Key(stored string) string {
	return confusables.Skeleton(Readable(stored))
}

// Readable is an address as people read it: its domain in Unicode. An
// address whose domain does not convert is returned as it is.
func Readable(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return email
	}
	domain, err := domains.ToUnicode(email[at+1:])
	if err != nil {
		return email
	}
	return email[:at+1] + domain
}

// NameKey is what two display names are compared by: the confusable
// skeleton of the name's PRECIS comparison form (case-folded), so that
// "Admin", "ADMIN" and "Аdmin" with a Cyrillic А share a key.
func NameKey(name string) string {
	k, err := precis.Nickname.CompareKey(name)
	if err != nil {
		// A name stored before this package that PRECIS refuses is
		// compared as it stands, lower-cased.
		k = strings.ToLower(strings.Join(strings.Fields(name), " "))
	}
	return confusables.Skeleton(k)
}

// The message keys of the refusals, for the forms that show them next to
// their field (invitations, account, acceptance).

// EmailMessageKey is the message of an address Email refused.
func EmailMessageKey(err error) string {
	switch {
	case errors.Is(err, ErrEmpty):
		return "form.required"
	case errors.Is(err, ErrTooLong):
		return "identity.email.too_long"
	case errors.Is(err, ErrInvisible):
		return "identity.email.invisible"
	case errors.Is(err, ErrCharacter):
		return "identity.email.character"
	default:
		return "identity.email.invalid"
	}
}

// NameMessageKey is the message of a display name DisplayName
// refused.
func NameMessageKey(err error) string {
	switch {
	case errors.Is(err, ErrEmpty):
		return "form.required"
	case errors.Is(err, ErrTooLong):
		return "identity.name.too_long"
	case errors.Is(err, ErrInvisible):
		return "identity.name.invisible"
	default:
		return "identity.name.character"
	}
}
