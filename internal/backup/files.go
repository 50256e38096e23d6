package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix names the files being written; a crash leaves them behind,
// never a partial file under a final name.
const tempPrefix = ".partial-"

// writeFile writes what fill yields to path through a temporary file in
// the same directory: written, fsynced, renamed, and the directory
// fsynced, so path holds either nothing or every byte. It returns the
// size and SHA-256 of what was written.
func writeFile(path string, fill func(io.Writer) error) (size int64, sum string, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return 0, "", err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err = fill(cw); err != nil {
		return 0, "", err
	}
	if err = f.Sync(); err != nil {
		return 0, "", fmt.Errorf("fsync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return 0, "", fmt.Errorf("close %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return 0, "", err
	}
	if err = syncDir(dir); err != nil {
		return 0, "", err
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// hashFile returns the size and SHA-256 of the file at path.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// prepareDir makes dir ready to receive a backup: it must not exist (it
// is created) or be an empty directory. A backup never overwrites
// anything, not even an older backup.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory; give a new or empty directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty; give a new or empty directory (a backup never overwrites anything)", dir)
	}
	return nil
}

// validKey accepts a manifest's object key only if it names a file below
// the evidence folder: a slash-separated relative path without "." or
// ".." elements nor elements starting with a dot (which also keeps the
// backup's own temporary files apart), so a crafted manifest cannot make
// restore read outside the backup.
func validKey(key string) bool {
	if key == "" || !fs.ValidPath(key) || key == "." {
		return false
	}
	for _, el := range strings.Split(key, "/") {
		if strings.HasPrefix(el, ".") || strings.ContainsRune(el, '\\') {
			return false
		}
	}
	return true
}

// objectPath is where the object key is kept in the backup dir.
func objectPath(dir, key string) string {
	return filepath.Join(dir, EvidenceDir, filepath.FromSlash(key))
}
