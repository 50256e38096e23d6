// Package storetest is the conformance suite every evidence.Store passes
// (the local directory and the S3 store run the same tests), and an
// in-process S3-compatible server to run the S3 store against.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"violet/internal/evidence"
)

// LargeSize is the size of the large object of the suite: more than one
// part of SmallPartSize, so an S3 store built with it uploads in several
// parts.
const LargeSize = 20 << 20

// SmallPartSize is the smallest part S3 accepts; stores under test use it
// so that LargeSize spans four parts.
const SmallPartSize = 5 << 20

// Run runs the suite; newStore returns an empty store of the test's own.
func Run(t *testing.T, newStore func(t *testing.T) evidence.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		data := randomBytes(1, 100<<10)
		key := evidence.NewKey()
		n, err := s.Put(context.Background(), key, bytes.NewReader(data))
		if err != nil || n != int64(len(data)) {
			t.Fatalf("Put = %d, %v; want %d, nil", n, err, len(data))
		}
		if got := readAll(t, s, key); !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes that differ from the %d put", len(got), len(data))
		}
	})

	t.Run("LargeStreamed", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		key := evidence.NewKey()
		in := sha256.New()
		n, err := s.Put(context.Background(), key, io.TeeReader(io.LimitReader(stream(2), LargeSize), in))
		if err != nil || n != LargeSize {
			t.Fatalf("Put = %d, %v; want %d, nil", n, err, LargeSize)
		}
		rc, err := s.Open(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out := sha256.New()
		if m, err := io.Copy(out, rc); err != nil || m != LargeSize {
			t.Fatalf("read back %d bytes, %v; want %d", m, err, LargeSize)
		}
		if !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
			t.Fatal("SHA-256 of the bytes read back differs from the bytes put")
		}
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		key := evidence.NewKey()
		if n, err := s.Put(context.Background(), key, bytes.NewReader(nil)); err != nil || n != 0 {
			t.Fatalf("Put of nothing = %d, %v", n, err)
		}
		if got := readAll(t, s, key); len(got) != 0 {
			t.Fatalf("read back %d bytes, want 0", len(got))
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, key := range []string{evidence.NewKey(), "../../etc/passwd"} {
			if rc, err := s.Open(context.Background(), key); !errors.Is(err, evidence.ErrNotFound) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("Open(%q) error = %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("InvalidKey", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, err := s.Put(context.Background(), "../escape", bytes.NewReader([]byte("x"))); err == nil {
			t.Fatal("Put under ../escape succeeded")
		}
		if keys := list(t, s); len(keys) != 0 {
			t.Fatalf("store holds %v after a refused key", keys)
		}
	})

	t.Run("DeleteIdempotent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := context.Background()
		key, other := evidence.NewKey(), evidence.NewKey()
		for _, k := range []string{key, other} {
			if _, err := s.Put(ctx, k, bytes.NewReader([]byte("evidence "+k))); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if err := s.Delete(ctx, evidence.NewKey()); err != nil {
			t.Fatalf("Delete of a key never stored: %v", err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, evidence.ErrNotFound) {
			t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
		}
		if got := string(readAll(t, s, other)); got != "evidence "+other {
			t.Fatalf("the other object reads %q", got)
		}
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := context.Background()
		// Object stores keep whole seconds.
		before := time.Now().Truncate(time.Second).Add(-time.Second)
		key := evidence.NewKey()
		want := []string{key, evidence.PreviewKey(key), evidence.NewKey()}
		for _, k := range want {
			if _, err := s.Put(ctx, k, bytes.NewReader([]byte(k))); err != nil {
				t.Fatal(err)
			}
		}
		after := time.Now().Add(time.Second)
		var got []string
		err := s.List(ctx, func(o evidence.Object) error {
			if o.Modified.Before(before) || o.Modified.After(after) {
				t.Errorf("%s modified at %v, not between %v and %v", o.Key, o.Modified, before, after)
			}
			got = append(got, o.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
		stop := errors.New("stop")
		calls := 0
		if err := s.List(ctx, func(evidence.Object) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("List with a failing fn = %v after %d calls, want stop after 1", err, calls)
		}
	})

	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		broken := errors.New("client went away")
		// A failure within the first part, and one after a whole part
		// has been sent.
		for _, at := range []int64{10, SmallPartSize + 1<<20} {
			key := evidence.NewKey()
			r := io.MultiReader(io.LimitReader(stream(4), at), errReader{broken})
			if _, err := s.Put(context.Background(), key, r); !errors.Is(err, broken) {
				t.Fatalf("Put failing after %d bytes = %v, want the reader's error", at, err)
			}
			if _, err := s.Open(context.Background(), key); !errors.Is(err, evidence.ErrNotFound) {
				t.Fatalf("after a failed Put (%d bytes), Open = %v, want ErrNotFound", at, err)
			}
		}
		if keys := list(t, s); len(keys) != 0 {
			t.Fatalf("failed Puts left %v", keys)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		key := evidence.NewKey()
		// The context ends while the body is still arriving.
		r := io.MultiReader(io.LimitReader(stream(6), SmallPartSize+1<<20),
			cancelReader{cancel}, io.LimitReader(stream(8), 1<<20))
		if _, err := s.Put(ctx, key, r); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with its context cancelled = %v, want context.Canceled", err)
		}
		if _, err := s.Open(context.Background(), key); !errors.Is(err, evidence.ErrNotFound) {
			t.Fatalf("after a cancelled Put, Open = %v, want ErrNotFound", err)
		}
		if keys := list(t, s); len(keys) != 0 {
			t.Fatalf("a cancelled Put left %v", keys)
		}
		if _, err := s.Put(context.Background(), evidence.NewKey(), bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if err := s.List(ctx, func(evidence.Object) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("List with a cancelled context = %v, want context.Canceled", err)
		}
	})

	t.Run("Check", func(t *testing.T) {
		t.Parallel()
		c, ok := newStore(t).(evidence.Checker)
		if !ok {
			t.Fatal("the store has no Check")
		}
		if err := c.Check(context.Background()); err != nil {
			t.Fatalf("Check of a usable store: %v", err)
		}
	})
}

// FakeS3 serves an in-memory S3-compatible service until the test ends,
// with an empty bucket, and returns the configuration of a store in it
// and the server (closing it makes the store unreachable). A clock, if
// not nil, dates the objects.
func FakeS3(t testing.TB, clock *Clock) (evidence.S3Config, *httptest.Server) {
	t.Helper()
	var (
		mem  []s3mem.Option
		opts = []gofakes3.Option{gofakes3.WithLogger(gofakes3.DiscardLog())}
	)
	if clock != nil {
		mem = append(mem, s3mem.WithTimeSource(clock))
		// Requests carry the real time.
		opts = append(opts, gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0))
	}
	backend := s3mem.New(mem...)
	const bucket = "violet-evidence"
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, opts...).Server())
	t.Cleanup(srv.Close)
	return evidence.S3Config{
		Endpoint:        srv.URL,
		Region:          "us-east-1",
		Bucket:          bucket,
		Prefix:          "evidence/",
		PathStyle:       true,
		AccessKeyID:     "test-access-key",
		SecretAccessKey: "test-secret-key",
		PartSize:        SmallPartSize,
	}, srv
}

// Clock is a fake S3 service's clock: the real time moved by an offset
// the test sets (to make objects old, for the sweep).
type Clock struct{ offset atomic.Int64 }

// Set moves the clock to the real time plus d.
func (c *Clock) Set(d time.Duration) { c.offset.Store(int64(d)) }

// Now is the clock's time (in GMT, as S3 has it).
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())).UTC() }

// Since is the time elapsed since t by the clock.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func readAll(t *testing.T, s evidence.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func list(t *testing.T, s evidence.Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), func(o evidence.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func randomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(stream(seed), b)
	return b
}

// stream is an endless reader of pseudo-random bytes.
func stream(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelReader cancels a context when the reader gets to it.
type cancelReader struct{ cancel context.CancelFunc }

func (c cancelReader) Read([]byte) (int, error) { c.cancel(); return 0, io.EOF }
