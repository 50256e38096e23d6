package factor_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"violet/ent"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/factor"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSealOpen: a sealed secret opens with the same key and purpose, and
// refuses to open when altered, under another key or for another user.
func TestSealOpen(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := factor.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user-a"))
	if strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Fatal("the sealed value shows the secret")
	}
	if again := s.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user-a")); again == sealed {
		t.Error("two seals of one secret are equal: the nonce is not fresh")
	}
	plain, err := s.Open(sealed, []byte("user-a"))
	if err != nil || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open = %q, %v", plain, err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == sealed[len(sealed)/2] {
		t.Fatal("no change made")
	}
	if _, err := s.Open(string(tampered), []byte("user-a")); !errors.Is(err, factor.ErrSealed) {
		t.Errorf("tampered value: %v, want ErrSealed", err)
	}
	if _, err := s.Open(sealed, []byte("user-b")); !errors.Is(err, factor.ErrSealed) {
		t.Errorf("another user's value: %v, want ErrSealed", err)
	}
	other, _ := factor.NewSealer([]byte("another key, another instance..."))
	if _, err := other.Open(sealed, []byte("user-a")); !errors.Is(err, factor.ErrSealed) {
		t.Errorf("another key: %v, want ErrSealed", err)
	}
	if _, err := s.Open("not base64!", nil); !errors.Is(err, factor.ErrSealed) {
		t.Errorf("garbage: %v, want ErrSealed", err)
	}
}

// TestMatch: with a fixed clock, the current code and those one step
// either side match and say which step; two steps away do not; a step at
// or before the last one used is refused (replay).
func TestMatch(t *testing.T) {
	secret, err := factor.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 10, 0, time.UTC)
	step := factor.Step(now)
	for _, tc := range []struct {
		name  string
		at    time.Time
		last  int64
		ok    bool
		match int64
	}{
		{"current", now, 0, true, step},
		{"previous step (skew)", now.Add(-30 * time.Second), 0, true, step - 1},
		{"next step (skew)", now.Add(30 * time.Second), 0, true, step + 1},
		{"two steps ago", now.Add(-60 * time.Second), 0, false, 0},
		{"same step used already", now, step, false, 0},
		{"older than the last used", now.Add(-30 * time.Second), step, false, 0},
		{"newer than the last used", now.Add(30 * time.Second), step, true, step + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := factor.Match(secret, codeAt(t, secret, tc.at), now, tc.last)
			if ok != tc.ok || got != tc.match {
				t.Errorf("Match = %d, %v; want %d, %v", got, ok, tc.match, tc.ok)
			}
		})
	}
	if _, ok := factor.Match(secret, "12345", now, 0); ok {
		t.Error("five digits matched")
	}
	c := codeAt(t, secret, now)
	if _, ok := factor.Match(secret, c[:3]+" "+c[3:], now, 0); !ok {
		t.Error("a code typed with a space in the middle is refused")
	}
}

// TestRecoveryCodes: ten distinct codes of 16 base32 characters in four
// groups; normalisation forgives case, dashes, spaces and digits read as
// letters.
func TestRecoveryCodes(t *testing.T) {
	codes := factor.NewRecoveryCodes()
	if len(codes) != factor.RecoveryCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 || len(factor.NormaliseRecovery(c)) != 16 {
			t.Errorf("code %q is not shaped ABCD-EFGH-IJKL-MNOP", c)
		}
		if seen[c] {
			t.Errorf("code %q twice", c)
		}
		seen[c] = true
	}
	if factor.HashRecovery("abcd-efgh ijkl-mnop") != factor.HashRecovery("ABCDEFGHIJKLMNOP") {
		t.Error("case, dashes and spaces change the hash")
	}
	if factor.NormaliseRecovery("0O1I8B") != "OOIIBB" {
		t.Errorf("digits misread: %q", factor.NormaliseRecovery("0O1I8B"))
	}
	if h := factor.HashRecovery(codes[0]); len(h) != 64 || strings.Contains(h, codes[0]) {
		t.Errorf("hash %q", h)
	}
}

// TestQRCode: the QR code is a path inside a square viewBox with a quiet
// zone.
func TestQRCode(t *testing.T) {
	q, err := factor.QRCode(factor.KeyURL("JBSWY3DPEHPK3PXP", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Size < 21+8 || !strings.HasPrefix(q.Path, "M4 4h") || q.ViewBox() != "0 0 "+strconv.Itoa(q.Size)+" "+strconv.Itoa(q.Size) {
		t.Errorf("QR %d, path %.20q, viewBox %q", q.Size, q.Path, q.ViewBox())
	}
	if u := factor.KeyURL("JBSWY3DPEHPK3PXP", "ada@example.com"); !strings.HasPrefix(u, "otpauth://totp/Violet:ada@example.com?") ||
		!strings.Contains(u, "issuer=Violet") || !strings.Contains(u, "secret=JBSWY3DPEHPK3PXP") {
		t.Errorf("URL %q", u)
	}
}

// TestVerify: through the database, an app code works once per step (its
// replay refused, the step recorded), a recovery code works once, and a
// new set replaces every old code.
func TestVerify(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := context.Background()
	sys := rule.SystemContext(ctx)
	now := time.Date(2026, 12, 5, 12, 0, 10, 0, time.UTC)
	clock := func() time.Time { return now }
	f, err := factor.NewService(client, []byte("0123456789abcdef0123456789abcdef"), clock)
	if err != nil {
		t.Fatal(err)
	}
	u := client.User.Create().SetEmail("ada@example.com").SetDisplayName("Ada").SetPasswordHash("x").SaveX(sys)
	e, err := f.Begin(u.ID, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	inTx := func(fn func(tx *ent.Tx) error) error { return database.WithTx(sys, client, fn) }
	wrong := "000000"
	if codeAt(t, e.Secret, now) == wrong {
		wrong = "111111"
	}
	if err := inTx(func(tx *ent.Tx) error {
		_, err := f.Confirm(ctx, tx, u.ID, e.Token, wrong)
		return err
	}); !errors.Is(err, factor.ErrWrongCode) {
		t.Fatalf("wrong first code: %v, want ErrWrongCode", err)
	}
	if err := inTx(func(tx *ent.Tx) error {
		codes, err = f.Confirm(ctx, tx, u.ID, e.Token, codeAt(t, e.Secret, now))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stored := client.UserTOTP.Query().OnlyX(sys).Secret
	if strings.Contains(stored, e.Secret) {
		t.Error("the secret is stored in clear")
	}
	verify := func(code string) (factor.Used, error) {
		var used factor.Used
		err := inTx(func(tx *ent.Tx) error {
			var err error
			used, err = f.Verify(ctx, tx, u.ID, code)
			return err
		})
		return used, err
	}
	// The confirmation spent the current step.
	if _, err := verify(codeAt(t, e.Secret, now)); !errors.Is(err, factor.ErrWrongCode) {
		t.Errorf("the confirming code again: %v, want ErrWrongCode", err)
	}
	now = now.Add(30 * time.Second)
	if used, err := verify(codeAt(t, e.Secret, now)); err != nil || used.Kind != factor.KindTOTP {
		t.Fatalf("next step's code: %+v, %v", used, err)
	}
	if _, err := verify(codeAt(t, e.Secret, now)); !errors.Is(err, factor.ErrWrongCode) {
		t.Errorf("replayed code: %v, want ErrWrongCode", err)
	}
	if len(codes) != factor.RecoveryCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if used, err := verify(strings.ToLower(codes[3])); err != nil || used.Kind != factor.KindRecovery || used.RecoveryLeft != 9 {
		t.Fatalf("recovery code: %+v, %v", used, err)
	}
	if _, err := verify(codes[3]); !errors.Is(err, factor.ErrWrongCode) {
		t.Errorf("recovery code twice: %v, want ErrWrongCode", err)
	}
	var fresh []string
	if err := inTx(func(tx *ent.Tx) error {
		fresh, err = f.Regenerate(ctx, tx, u.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(codes[4]); !errors.Is(err, factor.ErrWrongCode) {
		t.Errorf("an old code after regeneration: %v, want ErrWrongCode", err)
	}
	if st, err := f.Status(ctx, u.ID); err != nil || !st.TOTP || st.RecoveryLeft != 10 || !st.Since.Equal(now.Add(-30*time.Second)) {
		t.Errorf("status %+v, %v", st, err)
	}
	if used, err := verify(fresh[0]); err != nil || used.RecoveryLeft != 9 {
		t.Errorf("a new code: %+v, %v", used, err)
	}
	// An enrolment token is the user's own, and short-lived.
	if _, err := f.Resume(u.ID, u.Email, e.Token+"x"); !errors.Is(err, factor.ErrEnrolmentExpired) {
		t.Errorf("altered token: %v", err)
	}
	now = now.Add(factor.EnrolmentTTL)
	if _, err := f.Resume(u.ID, u.Email, e.Token); !errors.Is(err, factor.ErrEnrolmentExpired) {
		t.Errorf("old token: %v", err)
	}
}
