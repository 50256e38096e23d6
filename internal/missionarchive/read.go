package missionarchive

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"violet/internal/parselimit"
)

// Archive is an archive Read accepted: its manifest, and its evidence
// files by SHA-256, each checked against its name.
type Archive struct {
	Manifest Manifest
	files    map[string]*zip.File
}

// Read checks an archive of size bytes read from r and refuses it whole,
// with the reason (*Refused), when it is not one Violet wrote: too large
// (MaxArchiveBytes), not a zip, an entry with an unsafe name (absolute,
// "..", a backslash, not UTF-8), a name given twice, a name other than
// manifest.json and evidence/<sha256>, a method other than store and
// deflate, an entry inflating past its limit or by more than MaxRatio (a
// zip bomb), a manifest of another format or version, or past the
// parselimit bounds, a file the manifest names missing, one it does not
// name present, a file whose bytes do not hash to its name.
// maxFileBytes is one evidence file's limit (evidence.max_upload_bytes).
// Nothing is written: Preview and Import use the result.
func Read(r io.ReaderAt, size int64, maxFileBytes int64) (*Archive, error) {
	if size > MaxArchiveBytes {
		return nil, refuse("size", "")
	}
	zr, err := zip.NewReader(r, size)
	switch {
	case errors.Is(err, zip.ErrInsecurePath):
		return nil, refuse("unsafe_name", "")
	case err != nil:
		return nil, refuse("not_zip", "")
	}
	if len(zr.File) > MaxEntries {
		return nil, refuse("entries", "")
	}
	a := &Archive{files: map[string]*zip.File{}}
	var manifest *zip.File
	seen := map[string]bool{}
	var expanded uint64
	for _, f := range zr.File {
		name := f.Name
		if !safeName(name) {
			return nil, refuse("unsafe_name", printable(name))
		}
		if seen[name] {
			return nil, refuse("duplicate", name)
		}
		seen[name] = true
		if name == EvidencePrefix && f.Mode().IsDir() {
			continue // a folder entry some zip tools add
		}
		limit := uint64(maxFileBytes)
		switch sha := strings.TrimPrefix(name, EvidencePrefix); {
		case name == ManifestName:
			manifest, limit = f, MaxManifestBytes
		case strings.HasPrefix(name, EvidencePrefix) && sha256Hex.MatchString(sha):
			a.files[sha] = f
		default:
			return nil, refuse("extra_file", name)
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return nil, refuse("method", name)
		}
		if f.UncompressedSize64 > limit {
			return nil, refuse("file_size", name)
		}
		// The manifest is read whole within its own limit; a file is
		// hashed, then stored: one that inflates like no real file does is
		// refused before it costs that work.
		if name != ManifestName && f.UncompressedSize64 > RatioFloor && f.UncompressedSize64 > MaxRatio*f.CompressedSize64 {
			return nil, refuse("bomb", name)
		}
		if expanded += f.UncompressedSize64; expanded > MaxExpandedBytes {
			return nil, refuse("size", "")
		}
	}
	if manifest == nil {
		return nil, refuse("no_manifest", "")
	}
	if err := a.readManifest(manifest); err != nil {
		return nil, err
	}
	for sha := range a.Manifest.evidence {
		if a.files[sha] == nil {
			return nil, refuse("missing_file", EvidencePrefix+sha)
		}
	}
	for sha, f := range a.files {
		if !a.Manifest.evidence[sha] {
			return nil, refuse("extra_file", f.Name)
		}
		if err := verify(f, sha); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// readManifest reads and decodes manifest.json within its bounds: the
// format and version first, so that another document is refused for
// what it is rather than for a field it lacks.
func (a *Archive) readManifest(f *zip.File) error {
	data, err := readEntry(f, MaxManifestBytes)
	if err != nil {
		return err
	}
	var pe *parselimit.Error
	if err := parselimit.JSON(data, parselimit.Limits{MaxBytes: MaxManifestBytes, MaxDepth: MaxManifestDepth}); errors.As(err, &pe) {
		return refuse("manifest_limit", pe.Error())
	}
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return refuse("manifest", "not JSON")
	}
	if head.Format != Format {
		return refuse("format", printable(head.Format))
	}
	if head.Version != Version {
		return refuse("version", "")
	}
	// PostgreSQL text takes no NUL: refused here rather than by the
	// database mid-import (an escaped backslash before "u0000" is refused
	// too, which no export writes).
	if bytes.Contains(data, []byte(`\u0000`)) {
		return refuse("manifest", "NUL character")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&a.Manifest); err != nil {
		return refuse("manifest", printable(err.Error()))
	}
	return a.Manifest.check()
}

// readEntry reads a whole entry of at most max bytes. archive/zip refuses
// an entry that inflates past the size its header declares (which Read
// bounded), so a header that lies is caught here too.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, refuse("corrupt", f.Name)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, refuse("corrupt", f.Name)
	}
	if int64(len(data)) > max {
		return nil, refuse("file_size", f.Name)
	}
	return data, nil
}

// verify hashes an evidence entry and compares it with its name.
func verify(f *zip.File, sha string) error {
	rc, err := f.Open()
	if err != nil {
		return refuse("corrupt", f.Name)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	switch {
	case errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrFormat), err != nil:
		return refuse("corrupt", f.Name)
	case uint64(n) != f.UncompressedSize64:
		return refuse("file_size", f.Name)
	case hex.EncodeToString(h.Sum(nil)) != sha:
		return refuse("checksum", f.Name)
	}
	return nil
}

// open reads the evidence file with the SHA-256 sha.
func (a *Archive) open(sha string) (io.ReadCloser, error) {
	f := a.files[sha]
	if f == nil {
		return nil, refuse("missing_file", EvidencePrefix+sha)
	}
	return f.Open()
}

// safeName is an entry name that stays inside the archive wherever it is
// unpacked: relative, forward slashes only, no "." or ".." element, UTF-8
// without control characters.
func safeName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\\:") || strings.HasPrefix(name, "/") {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	for _, el := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return path.Clean(name) == strings.TrimSuffix(name, "/")
}

// printable is a name or value as a refusal may show it: valid UTF-8, at
// most 200 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
