package library

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/libraryimportfile"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/internal/attackid"
	"violet/internal/database"
)

// An Atomic re-import of unchanged files spent most of its time parsing
// YAML only to find every test unchanged. library_import_files remembers
// each technique file an import wrote whole, by the SHA-256 of its bytes:
// a later import that finds the same bytes, tagged against the same
// catalogue, whose templates are still as that import left them, reports
// what the file's import would report without parsing it.
//
// What makes the skip exact: a row is written only when every template of
// its file holds that file's content hash (import_hash), and import_hash
// changes only when an import updates a template, which then forgets the
// rows naming it (forgetFiles). So for a known file, "unchanged" reduces
// to what the skip checks: the templates exist, are not deleted and are
// unedited (rowHash == import_hash, as importFiles judges "edited").

// knownFile is what the import knows of one source before parsing it.
type knownFile struct {
	sha  string
	row  *ent.LibraryImportFile // nil: never written whole
	skip bool                   // reported from row, not parsed
}

// sourceHash is the hex SHA-256 of a file's bytes.
func sourceHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Fingerprint identifies what the catalogue resolves: every ATT&CK ID
// with the kind and row it maps to, in ID order. An ATT&CK sync that adds,
// removes or re-points an ID changes it, and with it every file's skip:
// the tests it left untagged are tagged then.
func (c Catalogue) Fingerprint() string {
	h := sha256.New()
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for k := range c {
			if !yield(k) {
				return
			}
		}
	}) {
		ref := c[id]
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write([]byte(ref.Kind))
		h.Write([]byte{0})
		h.Write(ref.ID[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// techniqueOf reads the file's top-level attack_technique without parsing
// the YAML, normalised as atomic.Parse does, or "" when it is not plainly
// there. It only serves to check a known file's templates are unedited:
// a wrong answer makes them look edited, and the file is parsed.
func techniqueOf(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		v, ok := bytes.CutPrefix(sc.Bytes(), []byte("attack_technique:"))
		if !ok {
			continue
		}
		s := strings.TrimSpace(string(v))
		if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
			s = strings.TrimSpace(s[1 : len(s)-1])
		}
		if s = strings.ToUpper(s); attackid.IsTechniqueOrSub(s) {
			return s
		}
		return ""
	}
	return ""
}

// knownFiles hashes the sources, reads the rows of those already written
// (one query) and, unless overwrite is asked, decides which are skipped:
// same catalogue, and their templates, read in one query for all, exist,
// are atomic, not deleted and unedited.
func knownFiles(ctx context.Context, client *ent.Client, sources []Source, catalogue string, overwrite bool) ([]knownFile, error) {
	known := make([]knownFile, len(sources))
	hashes := make([]string, 0, len(sources))
	for i, src := range sources {
		known[i].sha = sourceHash(src.Data)
		hashes = append(hashes, known[i].sha)
	}
	slices.Sort(hashes)
	rows, err := client.LibraryImportFile.Query().
		Where(predicate.LibraryImportFile(database.In(libraryimportfile.FieldSha256, slices.Compact(hashes)))).All(ctx)
	if err != nil {
		return nil, err
	}
	bySHA := make(map[string]*ent.LibraryImportFile, len(rows))
	for _, r := range rows {
		bySHA[r.Sha256] = r
	}
	var ids []uuid.UUID
	techniques := make([]string, len(sources))
	for i := range known {
		r := bySHA[known[i].sha]
		known[i].row = r
		if r == nil || overwrite || r.Catalogue != catalogue || len(r.Templates) == 0 {
			continue
		}
		if techniques[i] = techniqueOf(sources[i].Data); techniques[i] != "" {
			ids = append(ids, r.Templates...)
		}
	}
	if len(ids) == 0 {
		return known, nil
	}
	// Deleted templates are read too: a deleted one makes its file parsed
	// (and its template kept) rather than look missing.
	tpls, err := client.TestTemplate.Query().
		Where(predicate.TestTemplate(database.In(testtemplate.FieldID, ids))).All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]*ent.TestTemplate, len(tpls))
	for _, t := range tpls {
		byID[t.ID] = t
	}
	for i := range known {
		if techniques[i] == "" {
			continue
		}
		known[i].skip = !slices.ContainsFunc(known[i].row.Templates, func(id uuid.UUID) bool {
			t := byID[id]
			return t == nil || t.Source != testtemplate.SourceAtomic || t.DeletedAt != nil ||
				rowHash(t, techniques[i]) != t.ImportHash
		})
	}
	return known, nil
}

// skippedSummary is what importing the known file name would report: its
// tests unchanged, its templates in file order, its untagged tests.
func skippedSummary(name string, row *ent.LibraryImportFile) Summary {
	s := Summary{Unchanged: len(row.Templates), Templates: slices.Clone(row.Templates)}
	for _, u := range row.Untagged {
		s.Untagged = append(s.Untagged, Untagged{File: name, Test: u["test"], TechniqueID: u["technique_id"]})
	}
	return s
}

// rewritten reports whether an earlier file of this import updated one of
// a known file's templates: its skip, decided before, no longer holds.
func rewritten(row *ent.LibraryImportFile, updated map[uuid.UUID]bool) bool {
	return len(updated) > 0 && slices.ContainsFunc(row.Templates, func(id uuid.UUID) bool { return updated[id] })
}

// fileRow is the row of a file written whole.
func fileRow(tx *ent.Tx, sha, catalogue string, sum Summary) *ent.LibraryImportFileCreate {
	untagged := make([]map[string]string, 0, len(sum.Untagged))
	for _, u := range sum.Untagged {
		untagged = append(untagged, map[string]string{"test": u.Test, "technique_id": u.TechniqueID})
	}
	return tx.LibraryImportFile.Create().SetSha256(sha).SetCatalogue(catalogue).
		SetTemplates(slices.Clone(sum.Templates)).SetUntagged(untagged)
}

// saveFiles upserts the rows of a batch's files, in one statement per
// insertChunk rows; the same bytes given twice are one row.
func saveFiles(ctx context.Context, tx *ent.Tx, shas []string, rows []*ent.LibraryImportFileCreate) error {
	last := map[string]int{}
	for k, sha := range shas {
		last[sha] = k
	}
	var unique []*ent.LibraryImportFileCreate
	for k, sha := range shas {
		if last[sha] == k {
			unique = append(unique, rows[k])
		}
	}
	for chunk := range slices.Chunk(unique, insertChunk) {
		if err := tx.LibraryImportFile.CreateBulk(chunk...).
			OnConflictColumns(libraryimportfile.FieldSha256).UpdateNewValues().Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// forgetFiles deletes the rows of the files naming a template this import
// updated: its import_hash is another file's now, so skipping them would
// report unchanged what their import would update.
func forgetFiles(ctx context.Context, tx *ent.Tx, updated []uuid.UUID) error {
	if len(updated) == 0 {
		return nil
	}
	ids := make([]string, len(updated))
	for i, id := range updated {
		ids[i] = id.String()
	}
	_, err := tx.LibraryImportFile.Delete().Where(func(s *entsql.Selector) {
		s.Where(entsql.P(func(b *entsql.Builder) {
			b.Ident(s.C(libraryimportfile.FieldTemplates)).WriteString(" ?| ").Arg(pq.Array(ids))
		}))
	}).Exec(ctx)
	return err
}
