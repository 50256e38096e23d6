// Package evidence keeps the files people attach to mission tests: a blob
// store (an interface, implemented by a local directory and by a bucket of an
// S3-compatible object store), the checks a file passes before it is kept
// (extension allowlist AND magic bytes, text that is UTF-8 without NUL, image
// dimension caps read from the header before anything is decoded), the SHA-256
// computed while the bytes stream to the store, re-encoded previews of images,
// and the sweep of files no row names. Service holds the use cases of
// evidence files (section, upload, download, preview, delete, sweep), each
// with its rules, its transaction, audit record and live event (see
// docs/ARCHITECTURE.md, "A workflow").
//
// The order of an upload is: stream to a staging file, fsync, rename to a
// random key, fsync the directory (in S3: a multipart upload, completed
// at the end), and only then write the row. A row
// without a file is therefore impossible; a file without a row (a crash
// between the rename and the commit, a refused upload whose clean-up
// failed) is an orphan, which Sweep removes once it is old enough.
package evidence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound is a key the store does not hold.
var ErrNotFound = errors.New("evidence: no such object")

// Object is one stored object, as listed for the sweep.
type Object struct {
	Key      string
	Modified time.Time
}

// Store keeps evidence bytes under opaque keys. Put is atomic: either the
// whole object is durably stored under key or nothing is (a failed or
// cancelled Put leaves no trace under key). An object store (S3) can
// implement it with a multipart upload completed at the end.
type Store interface {
	// Put stores everything r yields under key and returns the size.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open reads the object under key (ErrNotFound when missing).
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object under key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object, including leftovers of interrupted
	// Puts (which no row ever names, so the sweep removes them).
	List(ctx context.Context, fn func(Object) error) error
}

// NewKey returns a random key: 128 bits, hex. It is never derived from
// the uploaded name.
func NewKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("evidence: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// PreviewKey is the key of an original's re-encoded preview, stored beside
// it.
func PreviewKey(key string) string { return key + previewSuffix }

const (
	previewSuffix = ".preview"
	stagingPrefix = ".stage-"
)

// OriginalKey returns the key an object belongs to: itself, or the
// original of a preview.
func OriginalKey(key string) string { return strings.TrimSuffix(key, previewSuffix) }

// validKey accepts the keys this package makes (and the staging names the
// local store lists): no separators, so no key can reach outside the
// store's directory.
var validKey = regexp.MustCompile(`^(\.stage-)?[0-9a-z]{1,64}(\.preview)?$`)

// Dir is a Store in a local directory (EVIDENCE_DIR), one file per key.
// Staging files live in the same directory so that the rename is atomic.
type Dir struct {
	root string
}

// NewDir returns the store rooted at root (which must exist).
func NewDir(root string) *Dir { return &Dir{root: root} }

func (d *Dir) path(key string) (string, error) {
	if !validKey.MatchString(key) {
		return "", fmt.Errorf("evidence: invalid key %q", key)
	}
	return filepath.Join(d.root, key), nil
}

// Put streams r to a staging file, fsyncs it, renames it to key and
// fsyncs the directory. The staging file is removed on any failure,
// including ctx being cancelled or r failing (a client gone mid-upload).
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (n int64, err error) {
	final, err := d.path(key)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(d.root, stagingPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("evidence: create staging file: %w", err)
	}
	staging := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(staging)
		}
	}()
	n, err = io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return n, err
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("evidence: fsync: %w", err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("evidence: close: %w", err)
	}
	if err = os.Rename(staging, final); err != nil {
		return n, fmt.Errorf("evidence: rename: %w", err)
	}
	if err = syncDir(d.root); err != nil {
		_ = os.Remove(final)
		return n, err
	}
	return n, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("evidence: open directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("evidence: fsync directory: %w", err)
	}
	return nil
}

// Open opens the file of key.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: open: %w", err)
	}
	return f, nil
}

// Delete removes the file of key.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("evidence: delete: %w", err)
	}
	return nil
}

// List walks the directory (not recursively); names that are not keys of
// this store are left alone.
func (d *Dir) List(ctx context.Context, fn func(Object) error) error {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return fmt.Errorf("evidence: list: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || !validKey.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if err := fn(Object{Key: e.Name(), Modified: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// IsStaging reports whether key is a leftover of an interrupted Put.
func IsStaging(key string) bool { return strings.HasPrefix(key, stagingPrefix) }

// ctxReader stops a copy as soon as ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Checker is a Store that can tell whether it is usable now, for the
// readiness probe: the directory is there, the bucket answers.
type Checker interface {
	Check(ctx context.Context) error
}

// Check reports whether the directory exists.
func (d *Dir) Check(context.Context) error {
	fi, err := os.Stat(d.root)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("evidence: %s is not a directory", d.root)
	}
	return nil
}
