package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"violet/internal/evidence"
	"violet/internal/evidence/storetest"
)

func TestDirConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) evidence.Store { return evidence.NewDir(t.TempDir()) })
}

func TestS3Conformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) evidence.Store {
		cfg, _ := storetest.FakeS3(t, nil)
		s, err := evidence.NewS3(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestS3Prefix checks that objects are named prefix + key in the bucket,
// and that what else the bucket holds is neither listed nor swept.
func TestS3Prefix(t *testing.T) {
	t.Parallel()
	cfg, srv := storetest.FakeS3(t, nil)
	s, err := evidence.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	raw, err := minio.New(srv.Listener.Addr().String(), &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	foreign := []string{"backups/" + evidence.NewKey(), evidence.NewKey(), "evidence/not a key"}
	for _, name := range foreign {
		if _, err := raw.PutObject(ctx, cfg.Bucket, name, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	key := evidence.NewKey()
	if _, err := s.Put(ctx, key, bytes.NewReader([]byte("orphan"))); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.StatObject(ctx, cfg.Bucket, "evidence/"+key, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object evidence/%s: %v", key, err)
	}
	none := func(context.Context, []string) (map[string]bool, error) { return map[string]bool{}, nil }
	n, err := evidence.Sweep(ctx, s, none, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 (the orphan only)", n, err)
	}
	for _, name := range foreign {
		if _, err := raw.StatObject(ctx, cfg.Bucket, name, minio.StatObjectOptions{}); err != nil {
			t.Errorf("the sweep touched %s outside the store: %v", name, err)
		}
	}
}

// TestS3Check checks the readiness probe: a missing bucket and a closed
// service are reported.
func TestS3Check(t *testing.T) {
	t.Parallel()
	cfg, srv := storetest.FakeS3(t, nil)
	missing := cfg
	missing.Bucket = "no-such-bucket"
	s, err := evidence.NewS3(missing)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err == nil {
		t.Fatal("Check of a missing bucket passed")
	}
	if s, err = evidence.NewS3(cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// The client retries a refused connection; a short deadline keeps
	// the test quick.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Check(ctx); err == nil {
		t.Fatal("Check of a closed service passed")
	}
	if _, err := s.Open(ctx, evidence.NewKey()); err == nil || errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("Open on a closed service = %v, want an error other than ErrNotFound", err)
	}
}

func TestNewS3Refuses(t *testing.T) {
	t.Parallel()
	for _, cfg := range []evidence.S3Config{
		{Endpoint: "http://minio:9000"},
		{Bucket: "b", Endpoint: "ftp://minio"},
		{Bucket: "b", Endpoint: "http://minio:9000/some/path"},
	} {
		if _, err := evidence.NewS3(cfg); err == nil {
			t.Errorf("NewS3(%+v) succeeded", cfg)
		}
	}
}

// TestS3FailedPutAbortsUpload: the parts of a failed multipart upload do
// not linger in the bucket, even when the failure is the Put's context.
func TestS3FailedPutAbortsUpload(t *testing.T) {
	t.Parallel()
	cfg, srv := storetest.FakeS3(t, nil)
	s, err := evidence.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := minio.New(srv.Listener.Addr().String(), &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	part := bytes.Repeat([]byte("p"), storetest.SmallPartSize+1)
	r := io.MultiReader(bytes.NewReader(part), readFunc(func([]byte) (int, error) { cancel(); return 0, ctx.Err() }))
	if _, err := s.Put(ctx, evidence.NewKey(), r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	for u := range raw.ListIncompleteUploads(context.Background(), cfg.Bucket, cfg.Prefix, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("incomplete upload of %s left", u.Key)
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// TestS3PutIntegrity: bytes damaged on the way to the service are
// refused there (every request carries its Content-MD5), in a single
// request and in a multipart upload alike.
func TestS3PutIntegrity(t *testing.T) {
	t.Parallel()
	cfg, _ := storetest.FakeS3(t, nil)
	cfg.Transport = damaging{http.DefaultTransport}
	s, err := evidence.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{100, storetest.SmallPartSize + 1<<20} {
		key := evidence.NewKey()
		if _, err := s.Put(context.Background(), key, bytes.NewReader(bytes.Repeat([]byte("e"), size))); err == nil {
			t.Errorf("Put of %d bytes damaged in transit succeeded", size)
		}
		if _, err := s.Open(context.Background(), key); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("after a damaged Put of %d bytes, Open = %v, want ErrNotFound", size, err)
		}
	}
}

// damaging flips the first byte of every PUT body.
type damaging struct{ next http.RoundTripper }

func (d damaging) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Body != nil && r.ContentLength > 0 {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		body[0] ^= 0xff
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return d.next.RoundTrip(r)
}
