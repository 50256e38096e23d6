package missionarchive_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"

	"violet/internal/app"
	"violet/internal/missionarchive"
)

// entry is one file of a hand-made archive.
type entry struct {
	name   string
	data   []byte
	method uint16
	// lie, when set, is the inflated size the header declares.
	lie uint64
}

// zipOf writes entries as a zip.
func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		if e.lie != 0 || e.method > zip.Deflate {
			// A raw entry: the header says what the test wants.
			h := &zip.FileHeader{Name: e.name, Method: e.method, CRC32: 0, CompressedSize64: uint64(len(e.data)),
				UncompressedSize64: e.lie}
			if e.lie == 0 {
				h.UncompressedSize64 = uint64(len(e.data))
			}
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(e.data)
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// manifestOf is a small valid manifest naming files (their bytes), with
// change applied to its decoded form.
func manifestOf(t *testing.T, change func(m map[string]any), files ...[]byte) []byte {
	t.Helper()
	const when = "2026-11-02T10:00:00Z"
	var evidence []any
	for i, f := range files {
		evidence = append(evidence, map[string]any{
			"id": uuid.NewString(), "side": "red", "name": "file" + string(rune('a'+i)) + ".txt", "content_type": "text/plain; charset=utf-8",
			"size": len(f), "sha256": shaOf(f), "caption": "", "uploaded_by": nil, "uploaded_at": when,
		})
	}
	if evidence == nil {
		evidence = []any{}
	}
	m := map[string]any{
		"format": "violet-mission", "version": 1, "exported_at": when, "released_only": false,
		"mission": map[string]any{"id": uuid.NewString(), "name": "Small", "description": "", "scope": "", "status": "draft",
			"labels": []any{}, "tools": []any{}, "start_date": nil, "end_date": nil, "created_at": when, "updated_at": when},
		"members": []any{}, "categories": []any{}, "scenarios": []any{}, "detection_levels": []any{},
		"tests": []any{map[string]any{
			"id": uuid.NewString(), "number": 1, "position": 0, "scenario_id": nil, "category_id": nil, "template": nil,
			"name": "One", "platforms": []any{}, "opsec_level": "medium", "state": "pending", "tags": []any{},
			"red": map[string]any{}, "blue": map[string]any{}, "review": map[string]any{}, "outcomes": []any{},
			"evidence": evidence, "created_at": when, "updated_at": when,
		}},
	}
	if change != nil {
		change(m)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func firstTest(m map[string]any) map[string]any { return m["tests"].([]any)[0].(map[string]any) }

// hugeReader is an archive of size bytes that must never be read.
type hugeReader struct{ t *testing.T }

func (h hugeReader) ReadAt([]byte, int64) (int, error) {
	h.t.Error("an archive over the size limit was read")
	return 0, io.EOF
}

// TestReadRefusesBadArchivesWhole: every refusal names its reason (and
// what it is about), and is an invalid input (422).
func TestReadRefusesBadArchivesWhole(t *testing.T) {
	t.Parallel()
	file := []byte("whoami\n")
	other := []byte("something else\n")
	good := manifestOf(t, nil, file)
	zeros := make([]byte, 8<<20)
	deep := []byte(`{"format": "violet-mission", "version": 1, "x": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)

	for _, tc := range []struct {
		name    string
		archive []byte
		size    int64 // when not len(archive)
		max     int64 // one file's limit, 1 MB when 0
		reason  string
		detail  string
	}{
		{name: "not a zip", archive: []byte("PK but not really a zip archive"), reason: "not_zip"},
		{name: "no manifest", archive: zipOf(t, entry{name: "evidence/" + shaOf(file), data: file}), reason: "no_manifest"},
		{name: "another format", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) { m["format"] = "vectr" })}),
			reason: "format", detail: "vectr"},
		{name: "a later version", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) { m["version"] = 2 })}),
			reason: "version"},
		{name: "not JSON", archive: zipOf(t, entry{name: "manifest.json", data: []byte("{not json")}), reason: "manifest"},
		{name: "nested too deep", archive: zipOf(t, entry{name: "manifest.json", data: deep}), reason: "manifest_limit"},
		{name: "an unknown state", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) {
			firstTest(m)["state"] = "flying"
		})}), reason: "manifest", detail: "tests: state"},
		{name: "a malformed test id", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) {
			firstTest(m)["id"] = "not-a-uuid"
		})}), reason: "manifest", detail: "tests: id"},
		{name: "a malformed scenario id", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) {
			firstTest(m)["scenario_id"] = "not-a-uuid"
		})}), reason: "manifest", detail: "tests: scenario or category"},
		{name: "a malformed mission id", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) {
			m["mission"].(map[string]any)["id"] = "42"
		})}), reason: "manifest", detail: "mission"},
		{name: "a NUL character", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) {
			firstTest(m)["name"] = "a\x00b"
		})}), reason: "manifest", detail: "NUL character"},
		{name: "a category colour no stylesheet takes", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, func(m map[string]any) {
			m["categories"] = []any{map[string]any{"id": uuid.NewString(), "name": "C", "colour": "red;}", "position": 0}}
		})}), reason: "manifest", detail: "categories and scenarios"},
		{name: "a file missing", archive: zipOf(t, entry{name: "manifest.json", data: good}),
			reason: "missing_file", detail: "evidence/" + shaOf(file)},
		{name: "a file the manifest does not name", archive: zipOf(t, entry{name: "manifest.json", data: good},
			entry{name: "evidence/" + shaOf(file), data: file}, entry{name: "evidence/" + shaOf(other), data: other}),
			reason: "extra_file", detail: "evidence/" + shaOf(other)},
		{name: "an extra file elsewhere", archive: zipOf(t, entry{name: "manifest.json", data: good},
			entry{name: "evidence/" + shaOf(file), data: file}, entry{name: "readme.txt", data: other}),
			reason: "extra_file", detail: "readme.txt"},
		{name: "a checksum mismatch", archive: zipOf(t, entry{name: "manifest.json", data: good},
			entry{name: "evidence/" + shaOf(file), data: other}),
			reason: "checksum", detail: "evidence/" + shaOf(file)},
		{name: "a parent directory", archive: zipOf(t, entry{name: "../../etc/cron.d/x", data: file}), reason: "unsafe_name"},
		{name: "a parent directory inside", archive: zipOf(t, entry{name: "evidence/../manifest.json", data: good}), reason: "unsafe_name"},
		{name: "an absolute name", archive: zipOf(t, entry{name: "/etc/passwd", data: file}), reason: "unsafe_name"},
		{name: "a backslash", archive: zipOf(t, entry{name: `evidence\..\x`, data: file}), reason: "unsafe_name"},
		{name: "a name twice", archive: zipOf(t, entry{name: "manifest.json", data: good}, entry{name: "manifest.json", data: good}),
			reason: "duplicate", detail: "manifest.json"},
		{name: "an unknown method", archive: zipOf(t, entry{name: "manifest.json", data: good, method: 12}), reason: "method"},
		{name: "a file over the evidence limit", archive: zipOf(t, entry{name: "manifest.json", data: good},
			entry{name: "evidence/" + shaOf(file), data: file}), max: 3, reason: "file_size"},
		{name: "a zip bomb", archive: zipOf(t, entry{name: "manifest.json", data: manifestOf(t, nil, zeros)},
			entry{name: "evidence/" + shaOf(zeros), data: zeros, method: zip.Deflate}), max: 16 << 20, reason: "bomb"},
		{name: "a header that lies about the size", archive: zipOf(t, entry{name: "manifest.json", data: good},
			entry{name: "evidence/" + shaOf(file), data: file, lie: 3}), reason: "corrupt"},
		{name: "an archive over the limit", size: missionarchive.MaxArchiveBytes + 1, reason: "size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.ReaderAt = bytes.NewReader(tc.archive)
			size := int64(len(tc.archive))
			if tc.size != 0 {
				r, size = hugeReader{t}, tc.size
			}
			max := tc.max
			if max == 0 {
				max = 1 << 20
			}
			_, err := missionarchive.Read(r, size, max)
			var refused *missionarchive.Refused
			if !errors.As(err, &refused) || !errors.Is(err, app.ErrInvalid) {
				t.Fatalf("err %v, want a refusal", err)
			}
			if refused.Reason != "missionarchive.refused."+tc.reason || (tc.detail != "" && refused.Detail != tc.detail) {
				t.Errorf("refused %q %q, want %q %q", refused.Reason, refused.Detail, tc.reason, tc.detail)
			}
		})
	}

	// The same archive, whole and right, is accepted.
	data := zipOf(t, entry{name: "manifest.json", data: good, method: zip.Deflate}, entry{name: "evidence/" + shaOf(file), data: file})
	if _, err := missionarchive.Read(bytes.NewReader(data), int64(len(data)), 1<<20); err != nil {
		t.Errorf("a good archive: %v", err)
	}
}
