package library

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"violet/internal/atomic"
	"violet/internal/attackid"
)

// Limits on what an archive may hold. The upstream atomics folder is about
// 340 technique files and tens of megabytes unpacked (binaries and
// sources included; the technique files themselves are a few MB), and
// the whole repository's archive a few thousand entries. What is kept
// in memory until the import ends is only the technique files: 64 MB of
// them is ten times upstream's. Deflate packs YAML 5 to 20 times; a bomb
// packs a thousand times, so past 1 MB unpacked an archive packed more
// than 100 to 1 is refused before it is inflated further.
const (
	MaxArchiveEntries = 20000
	MaxUnpacked       = 256 << 20
	MaxTechniqueBytes = 64 << 20
	MaxRatio          = 100
	ratioFloor        = 1 << 20
)

// techniqueFile reports whether name is a technique file of an atomics
// folder (atomics/T1059.001/T1059.001.yaml); everything else there
// (indexes, sources, binaries) is skipped.
func techniqueFile(name string) bool {
	id, ok := strings.CutSuffix(name, ".yaml")
	if !ok {
		id, ok = strings.CutSuffix(name, ".yml")
	}
	return ok && attackid.IsTechniqueOrSub(id)
}

// ArchiveError is an archive refused as a whole: nothing in it is imported.
type ArchiveError struct{ Reason string }

func (e *ArchiveError) Error() string { return "archive refused: " + e.Reason }

// ReadZip returns the technique files of a zip archive.
func ReadZip(ra io.ReaderAt, size int64) ([]Source, error) {
	return ReadZipMatching(ra, size, techniqueFile)
}

// ReadZipMatching returns the files of a zip archive whose base name keep
// accepts, within the same limits (the Sigma import reads its rules so).
func ReadZipMatching(ra io.ReaderAt, size int64, keep func(name string) bool) ([]Source, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, &ArchiveError{"not a zip archive: " + err.Error()}
	}
	if len(zr.File) > MaxArchiveEntries {
		return nil, &ArchiveError{fmt.Sprintf("more than %d entries", MaxArchiveEntries)}
	}
	// The sizes the archive declares refuse a bomb before anything is
	// inflated; take() still counts what really comes out, in case they lie.
	var declared uint64
	for _, f := range zr.File {
		declared += f.UncompressedSize64
	}
	if declared > MaxUnpacked {
		return nil, &ArchiveError{fmt.Sprintf("the archive unpacks to more than %d MB", MaxUnpacked>>20)}
	}
	if err := checkRatio(int64(declared), size); err != nil {
		return nil, err
	}
	u := &unpacker{}
	for _, f := range zr.File {
		if err := u.check(f.Name); err != nil {
			return nil, err
		}
		if f.FileInfo().IsDir() || !keep(path.Base(f.Name)) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, &ArchiveError{fmt.Sprintf("%s: %v", f.Name, err)}
		}
		err = u.take(f.Name, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return u.sources(), nil
}

// ReadTarGz returns the technique files of a .tar.gz archive.
func ReadTarGz(r io.Reader) ([]Source, error) { return ReadTarGzMatching(r, techniqueFile) }

// ReadTarGzMatching returns the files of a .tar.gz archive whose base
// name keep accepts, within the same limits.
func ReadTarGzMatching(r io.Reader, keep func(name string) bool) ([]Source, error) {
	packed := &countReader{r: r}
	gz, err := gzip.NewReader(packed)
	if err != nil {
		return nil, &ArchiveError{"not a gzip archive: " + err.Error()}
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	u := &unpacker{}
	for entries := 0; ; entries++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &ArchiveError{"not a tar archive: " + err.Error()}
		}
		if entries >= MaxArchiveEntries {
			return nil, &ArchiveError{fmt.Sprintf("more than %d entries", MaxArchiveEntries)}
		}
		if err := checkRatio(u.total, packed.n); err != nil {
			return nil, err
		}
		if err := u.check(h.Name); err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if !keep(path.Base(h.Name)) {
			// Skipping an entry still inflates it; it counts.
			if u.total += h.Size; u.total > MaxUnpacked {
				return nil, &ArchiveError{fmt.Sprintf("the archive unpacks to more than %d MB", MaxUnpacked>>20)}
			}
			continue
		}
		if err := u.take(h.Name, tr); err != nil {
			return nil, err
		}
	}
	return u.sources(), nil
}

// ReadDir returns the technique files under dir (an atomics folder or a
// folder of technique files), or the one file dir names.
func ReadDir(dir string) ([]Source, error) { return ReadDirMatching(dir, techniqueFile) }

// ReadDirMatching returns the files under dir whose name keep accepts, or
// the one file dir names, within the same limits.
func ReadDirMatching(dir string, keep func(name string) bool) ([]Source, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		data, err := readLimited(dir)
		if err != nil {
			return nil, err
		}
		return []Source{{Name: filepath.Base(dir), Data: data}}, nil
	}
	u := &unpacker{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(d.Name()) {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(dir, p)
		return u.take(filepath.ToSlash(rel), f)
	})
	if err != nil {
		return nil, err
	}
	return u.sources(), nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, atomic.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > atomic.MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MB", p, atomic.MaxFileSize>>20)
	}
	return data, nil
}

// unpacker collects files while enforcing the limits: no entry may leave
// the archive's folder, no file be larger than a technique file can be,
// and the whole not unpack to more than MaxUnpacked (an archive bomb is
// stopped at the limit, not read to its end).
type unpacker struct {
	total int64 // bytes inflated
	kept  int64 // bytes of technique files held
	files []Source
}

// checkRatio refuses an archive that unpacks to more than MaxRatio times
// its packed size, once it unpacks to more than ratioFloor (tiny archives
// of repeated text pack well and harm nobody).
func checkRatio(unpacked, packed int64) error {
	if unpacked > ratioFloor && unpacked > MaxRatio*max(packed, 1) {
		return &ArchiveError{fmt.Sprintf("the archive unpacks to more than %d times its size (%d MB from %d KB): an archive bomb, not technique files",
			MaxRatio, unpacked>>20, packed>>10)}
	}
	return nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (u *unpacker) check(name string) error {
	clean := path.Clean(strings.ReplaceAll(name, `\`, "/"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return &ArchiveError{fmt.Sprintf("entry %q escapes the archive's folder", name)}
	}
	return nil
}

func (u *unpacker) take(name string, r io.Reader) error {
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(r, atomic.MaxFileSize+1))
	if err != nil {
		return &ArchiveError{fmt.Sprintf("%s: %v", name, err)}
	}
	if n > atomic.MaxFileSize {
		return &ArchiveError{fmt.Sprintf("%s unpacks to more than %d MB: not a technique file", name, atomic.MaxFileSize>>20)}
	}
	if u.total += n; u.total > MaxUnpacked {
		return &ArchiveError{fmt.Sprintf("the archive unpacks to more than %d MB", MaxUnpacked>>20)}
	}
	if u.kept += n; u.kept > MaxTechniqueBytes {
		return &ArchiveError{fmt.Sprintf("the technique files total more than %d MB", MaxTechniqueBytes>>20)}
	}
	u.files = append(u.files, Source{Name: name, Data: b.Bytes()})
	return nil
}

func (u *unpacker) sources() []Source {
	sort.Slice(u.files, func(i, j int) bool { return u.files[i].Name < u.files[j].Name })
	return u.files
}
