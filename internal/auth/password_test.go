package auth_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"violet/internal/auth"
)

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		name, password, email string
		want                  error
	}{
		{"twelve characters", "abcdefghijkl", "a@example.com", nil},
		{"eleven characters", "abcdefghijk", "a@example.com", auth.ErrPasswordTooShort},
		{"twelve runes of multi-byte letters", "éééééééééééé", "a@example.com", nil},
		{"spaces count and are kept", "            ", "a@example.com", nil},
		{"no composition rules", "aaaaaaaaaaaaaaaa", "a@example.com", nil},
		{"1024 bytes", strings.Repeat("x", 1024), "a@example.com", nil},
		{"1025 bytes", strings.Repeat("x", 1025), "a@example.com", auth.ErrPasswordTooLong},
		{"equal to the email", "alice@example.com", "alice@example.com", auth.ErrPasswordIsEmail},
		{"equal to the email in other case", "ALICE@example.com", "alice@example.com", auth.ErrPasswordIsEmail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := auth.CheckPassword(tc.password, tc.email); !errors.Is(err, tc.want) {
				t.Errorf("CheckPassword = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHasher(t *testing.T) {
	ctx := context.Background()
	h, err := auth.NewHasher(auth.DefaultArgon2Params(), 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	phc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("PHC string with OWASP parameters", func(t *testing.T) {
		re := regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
		m := re.FindStringSubmatch(phc)
		if m == nil {
			t.Fatalf("hash %q is not an argon2id PHC string with a 16-byte salt and 32-byte key", phc)
		}
		if m[1] != "19456" || m[2] != "2" || m[3] != "1" {
			t.Errorf("parameters m=%s t=%s p=%s, want at least m=19456 t=2 p=1", m[1], m[2], m[3])
		}
	})
	t.Run("salted", func(t *testing.T) {
		again, _ := h.Hash(ctx, "correct horse battery")
		if again == phc {
			t.Error("two hashes of one password are equal")
		}
	})
	cases := []struct {
		name, password string
		ok             bool
	}{
		{"right", "correct horse battery", true},
		{"wrong", "correct horse batterx", false},
		{"not trimmed", "correct horse battery ", false},
		{"not case-folded", "Correct horse battery", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tc.password, phc)
			if err != nil || ok != tc.ok || rehash {
				t.Errorf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tc.ok)
			}
		})
	}
	t.Run("rehash when the parameters rise", func(t *testing.T) {
		weak, _ := auth.NewHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 1, time.Second)
		old, _ := weak.Hash(ctx, "correct horse battery")
		ok, rehash, err := h.Verify(ctx, "correct horse battery", old)
		if !ok || !rehash || err != nil {
			t.Errorf("Verify of a weaker hash = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
		if ok, rehash, _ := h.Verify(ctx, "wrong password!", old); ok || rehash {
			t.Error("a wrong password asks for a rehash")
		}
	})
	t.Run("malformed hashes are errors, not matches", func(t *testing.T) {
		for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$bcrypt$x"} {
			if ok, _, err := h.Verify(ctx, "x", bad); ok || err == nil {
				t.Errorf("Verify(%q) = %v, %v", bad, ok, err)
			}
		}
	})
	t.Run("too long is refused without hashing", func(t *testing.T) {
		if _, err := h.Hash(ctx, strings.Repeat("x", 1025)); !errors.Is(err, auth.ErrPasswordTooLong) {
			t.Errorf("Hash = %v", err)
		}
		if _, _, err := h.Verify(ctx, strings.Repeat("x", 1<<20), phc); !errors.Is(err, auth.ErrPasswordTooLong) {
			t.Errorf("Verify = %v", err)
		}
	})
	t.Run("dummy verification for unknown emails", func(t *testing.T) {
		if err := h.VerifyDummy(ctx, "anything at all"); err != nil {
			t.Error(err)
		}
	})
}

// TestHasherBounded: no more hashes run at once than the hasher has slots;
// callers beyond wait, then get ErrHasherBusy.
func TestHasherBounded(t *testing.T) {
	h, err := auth.NewHasher(auth.DefaultArgon2Params(), 1, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		busy int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Hash(context.Background(), "password password"); errors.Is(err, auth.ErrHasherBusy) {
				mu.Lock()
				busy++
				mu.Unlock()
			} else if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if busy == 0 {
		t.Error("8 hashes on one slot with a 10 ms wait: none was refused")
	}
	if busy == 8 {
		t.Error("every hash was refused")
	}
}
