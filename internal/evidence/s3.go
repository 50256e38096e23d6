package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3 store keeps its objects and how it signs in.
// The caller fills it from its configuration: nothing here reads the
// environment.
type S3Config struct {
	// Endpoint is the service's URL, e.g. https://s3.eu-west-1.amazonaws.com
	// or http://minio:9000; its scheme turns TLS on or off. Empty means
	// AWS (https://s3.amazonaws.com).
	Endpoint string
	// Region is the bucket's region; empty lets the client ask the
	// service (AWS) or use its default (most S3-compatible servers).
	Region string
	Bucket string
	// Prefix is put before every key (object name = Prefix + key), so the
	// bucket can hold other things beside evidence.
	Prefix string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// instead of the host name, as MinIO and most self-hosted servers
	// need.
	PathStyle bool
	// AccessKeyID, SecretAccessKey and SessionToken sign requests; with
	// no access key the instance's IAM role is used (EC2, ECS, EKS).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PartSize is the size of one part of a multipart upload, which is
	// also the memory one upload buffers; 0 means DefaultPartSize. S3
	// refuses parts below 5 MiB (except the last).
	PartSize uint64
	// Transport carries the requests; nil means the client's default.
	Transport http.RoundTripper
}

// DefaultPartSize bounds the memory of one streamed upload to S3.
const DefaultPartSize = 16 << 20

// singlePutMax is the largest object Put sends in one request.
const singlePutMax = 1 << 20

// CheckTimeout bounds the readiness check of an object store.
const CheckTimeout = 3 * time.Second

// S3 is a Store in a bucket of an S3-compatible object store. Bytes go
// through Violet both ways (uploads streamed in parts, downloads
// streamed from GetObject); the bucket is never exposed to browsers.
type S3 struct {
	client   *minio.Client
	probe    *minio.Client // for Check
	bucket   string
	prefix   string
	partSize uint64
}

// NewS3 returns the store described by cfg. It does not contact the
// service: Check does (for /readyz), so an instance can start while the
// store is briefly unreachable and report itself not ready meanwhile.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("evidence: S3 bucket is not set")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("evidence: S3 endpoint %q must be http(s)://host[:port]", endpoint)
	}
	creds := credentials.NewIAM("")
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	opts := minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	}
	client, err := minio.New(u.Host, &opts)
	if err != nil {
		return nil, fmt.Errorf("evidence: S3 client: %w", err)
	}
	// The readiness probe reports the state of now: it does not retry
	// (the load balancer asks again soon).
	opts.MaxRetries = 1
	probe, err := minio.New(u.Host, &opts)
	if err != nil {
		return nil, fmt.Errorf("evidence: S3 client: %w", err)
	}
	part := cfg.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	return &S3{client: client, probe: probe, bucket: cfg.Bucket, prefix: cfg.Prefix, partSize: part}, nil
}

func (s *S3) name(key string) (string, error) {
	if !validKey.MatchString(key) {
		return "", fmt.Errorf("evidence: invalid key %q", key)
	}
	return s.prefix + key, nil
}

// Put streams r to the bucket: up to singlePutMax in one request, more in
// parts of partSize (a multipart upload, since the size is unknown until
// the end). S3 makes the object visible only when the request or the
// upload is complete, after the last byte, so a failed or cancelled Put
// leaves no object; the parts of a failed upload are aborted.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	name, err := s.name(key)
	if err != nil {
		return 0, err
	}
	// Most evidence is small: read a little first, and send what fits in
	// it in one request instead of the three of a multipart upload (which
	// also cannot hold an empty object).
	r = ctxReader{ctx, r}
	head := make([]byte, singlePutMax)
	n, err := io.ReadFull(r, head)
	size := int64(-1)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		size, r = int64(n), bytes.NewReader(head[:n])
	case err != nil:
		return 0, err
	default:
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	info, err := s.client.PutObject(ctx, s.bucket, name, r, size, minio.PutObjectOptions{
		PartSize:    s.partSize,
		ContentType: "application/octet-stream",
		// Every request carries the MD5 of its bytes (Content-MD5, which
		// every S3-compatible service checks). The payload is then not
		// signed: a streaming SHA-256 signature of every chunk (used on
		// plain http) adds nothing to that and to Ingest's own SHA-256,
		// and some S3-compatible servers mishandle it in multipart parts.
		SendContentMd5:       true,
		DisableContentSha256: true,
	})
	if err != nil {
		// The client has aborted the multipart upload, if any (with a
		// context of its own, so even when ctx is what failed).
		return 0, fmt.Errorf("evidence: put: %w", err)
	}
	return info.Size, nil
}

// Open starts reading the object of key. GetObject is lazy: Stat makes
// the request now, so a missing key is ErrNotFound here rather than an
// error on the first Read after the response headers are sent.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, ErrNotFound
	}
	obj, err := s.client.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("evidence: open: %w", err)
	}
	if _, err := obj.Stat(); err != nil {
		_ = obj.Close()
		if isNoSuchKey(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("evidence: open: %w", err)
	}
	return obj, nil
}

func isNoSuchKey(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket
}

// Delete removes the object of key; S3 answers a missing key like any
// other.
func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil && !isNoSuchKey(err) {
		return fmt.Errorf("evidence: delete: %w", err)
	}
	return nil
}

// List lists the objects under the prefix; names that are not keys of
// this store are left alone, as in Dir.
func (s *S3) List(ctx context.Context, fn func(Object) error) error {
	// Cancelling stops the client's listing goroutine when fn fails.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if o.Err != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("evidence: list: %w", o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if !validKey.MatchString(key) {
			continue
		}
		if err := fn(Object{Key: key, Modified: o.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Check reports whether the bucket exists and answers, within
// CheckTimeout.
func (s *S3) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	ok, err := s.probe.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("evidence: S3 bucket %q: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("evidence: S3 bucket %q does not exist", s.bucket)
	}
	return nil
}
