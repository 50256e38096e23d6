package library

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"violet/ent"
	"violet/ent/schema"
	"violet/ent/testtemplate"
	"violet/ent/testtemplatemitretag"
	"violet/internal/atomic"
	"violet/internal/database"
)

// Source is one file to import: its name (for the summary) and content.
type Source struct {
	Name string
	Data []byte
}

// Failure is a file that could not be imported, and why.
type Failure struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// Untagged is an imported test whose ATT&CK ID is not in the catalogue.
type Untagged struct {
	File        string `json:"file"`
	Test        string `json:"test"`
	TechniqueID string `json:"technique_id"`
}

// Summary is what an import did.
type Summary struct {
	Files     int         `json:"files"`
	Added     int         `json:"added"`
	Updated   int         `json:"updated"`
	Unchanged int         `json:"unchanged"`
	Kept      int         `json:"kept"` // edited locally (or deleted) and left as they are
	Failed    int         `json:"failed"`
	Failures  []Failure   `json:"failures,omitempty"`
	Untagged  []Untagged  `json:"untagged,omitempty"`
	Templates []uuid.UUID `json:"-"` // every template the import touched or found, in file order
	// Unlinked are a library document's rule references left out
	// (exchange_rules.go).
	Unlinked []Unlinked `json:"unlinked,omitempty"`
}

// AtomicOptions tune an Atomic Red Team import.
type AtomicOptions struct {
	// Overwrite replaces local edits of previously imported templates;
	// without it they are kept and counted as such.
	Overwrite bool
	// CreatedBy is recorded on new templates.
	CreatedBy *uuid.UUID
	// Progress is told how many files are done out of how many.
	Progress func(done, total int)
	// Parallel bounds how many files are parsed at once; 0 means one per
	// core (runtime.GOMAXPROCS). The outcome does not depend on it: the
	// files are written in their order whatever order they were parsed in
	// (1 is the sequential reference the tests compare with).
	Parallel int
}

// atomicImportLock is the advisory lock key serialising the files of
// concurrent Atomic imports (any value unique among Violet's locks).
const atomicImportLock = 0x766c_6174_6f6d // "vlatom"

// A batch of files is written in one transaction with a few multi-row
// statements (most of an import's database time was one transaction and a
// few statements per file: 350 files, ~1,400 statements). The bounds keep a
// transaction, the advisory lock it holds and the GUID lookup's parameters
// small, and the job's progress moving.
const (
	batchFiles     = 100
	batchTemplates = 1000
	insertChunk    = 500 // rows per INSERT: 500 × 12 columns stays far below PostgreSQL's 65,535 parameters
)

// parsed is one file read and turned into template contents, off the
// writer's path.
type parsed struct {
	file      *atomic.File
	templates []atomic.Template
	hashes    []string // contentHash of each template
	err       error
	skipped   bool // a known file, not parsed (knownFiles)
}

func parseSource(src Source) parsed {
	f, err := atomic.Parse(src.Data)
	if err != nil {
		return parsed{err: err}
	}
	p := parsed{file: f, templates: f.Templates()}
	p.hashes = make([]string, len(p.templates))
	for i, t := range p.templates {
		p.hashes[i] = contentHash(t)
	}
	return p
}

// ImportAtomic imports Atomic Red Team technique files: each atomic test
// becomes a test template (source atomic, its GUID as external reference)
// tagged with its technique or sub-technique when the catalogue has it.
// Re-importing updates by GUID and never duplicates. A bad file is
// reported in the summary and the others go on; nothing of it is written.
// The error is for the database failing, not for bad files.
//
// A file this import knows by its content hash, against the same
// catalogue, whose templates are as it left them, is reported without
// being parsed (atomic_files.go), unless overwrite is asked. The others
// are parsed in parallel (parsing is most of an import's CPU) and written
// in their order, batches of files per transaction; a batch the database
// refuses is written again file by file, one transaction each, so that
// one file's failure fails that file only, as it always has.
func ImportAtomic(ctx context.Context, client *ent.Client, sources []Source, opts AtomicOptions) (Summary, error) {
	var sum Summary
	cat, err := LoadCatalogue(ctx, client)
	if err != nil {
		return sum, err
	}
	w := writer{client: client, sources: sources, cat: cat, catalogue: cat.Fingerprint(), opts: opts}
	if w.known, err = knownFiles(ctx, client, sources, w.catalogue, opts.Overwrite); err != nil {
		return sum, err
	}
	skip := make([]bool, len(sources))
	for i, k := range w.known {
		skip[i] = k.skip
	}
	results, wait, stop := parseAll(ctx, sources, skip, opts.Parallel)
	defer stop()
	done := func(i int) {
		if opts.Progress != nil {
			opts.Progress(i+1, len(sources))
		}
	}
	updated := map[uuid.UUID]bool{} // templates this import updated so far
	for i := 0; i < len(sources); {
		if err := wait(i); err != nil {
			return sum, err
		}
		if results[i].skipped {
			if row := w.known[i].row; !rewritten(row, updated) {
				sum.Files++
				sum.add(skippedSummary(sources[i].Name, row))
				done(i)
				i++
				continue
			}
			results[i] = parseSource(sources[i])
		}
		if err := results[i].err; err != nil {
			sum.Files++
			sum.Failed++
			sum.Failures = append(sum.Failures, Failure{File: sources[i].Name, Reason: err.Error()})
			done(i)
			i++
			continue
		}
		end, err := nextBatch(i, results, wait)
		if err != nil {
			return sum, err
		}
		sums, changed, err := w.writeBatch(ctx, results, i, end)
		if err != nil && end-i > 1 && ctx.Err() == nil {
			// Find the file the database refused: each alone.
			sums, changed = make([]Summary, 0, end-i), nil
			for k := i; k < end; k++ {
				one, ch, err := w.writeBatch(ctx, results, k, k+1)
				if err != nil {
					if ctx.Err() != nil {
						return sum, ctx.Err()
					}
					one = []Summary{{Failed: 1, Failures: []Failure{{File: sources[k].Name, Reason: "could not be saved: " + err.Error()}}}}
				}
				sums, changed = append(sums, one...), append(changed, ch...)
			}
		} else if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			sums = []Summary{{Failed: 1, Failures: []Failure{{File: sources[i].Name, Reason: "could not be saved: " + err.Error()}}}}
		}
		for _, id := range changed {
			updated[id] = true
		}
		for k, s := range sums {
			sum.Files++
			sum.add(s)
			done(i + k)
		}
		clear(results[i:end]) // written: what they held can go
		i = end
	}
	return sum, nil
}

// writer holds what every batch of one import writes with.
type writer struct {
	client    *ent.Client
	sources   []Source
	known     []knownFile
	cat       Catalogue
	catalogue string // cat's fingerprint
	opts      AtomicOptions
}

// parseAll parses the sources not skipped on up to parallel goroutines (0:
// one per core) while the caller writes: wait(i) returns once results[i]
// is there (or the context ended); stop ends the parsing early and waits
// for it.
func parseAll(ctx context.Context, sources []Source, skip []bool, parallel int) (results []parsed, wait func(int) error, stop func()) {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	results = make([]parsed, len(sources))
	ready := make([]chan struct{}, len(sources))
	for i := range ready {
		ready[i] = make(chan struct{})
		if skip[i] {
			results[i].skipped = true
			close(ready[i])
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	g.SetLimit(parallel)
	scheduled := make(chan struct{})
	go func() {
		defer close(scheduled)
		for i, src := range sources {
			if ctx.Err() != nil {
				return
			}
			if skip[i] {
				continue
			}
			g.Go(func() error {
				results[i] = parseSource(src)
				close(ready[i])
				return nil
			})
		}
	}()
	wait = func(i int) error {
		select {
		case <-ready[i]:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stop = func() {
		cancel()
		<-scheduled
		_ = g.Wait() // the parsers return no error
	}
	return results, wait, stop
}

// nextBatch returns the end (exclusive) of the batch of parsed files
// starting at start: the files that follow it up to the first that failed
// to parse or was skipped, within the batch bounds, and never a GUID twice, so that a
// test found twice is written by the first file and found by the second,
// as when each file was its own transaction.
func nextBatch(start int, results []parsed, wait func(int) error) (int, error) {
	guids := map[string]bool{}
	templates := 0
	end := start
	for end < len(results) && end-start < batchFiles {
		if err := wait(end); err != nil {
			return 0, err
		}
		r := results[end]
		if r.err != nil || r.skipped || (end > start && templates+len(r.templates) > batchTemplates) {
			break
		}
		if end > start && slices.ContainsFunc(r.templates, func(t atomic.Template) bool { return guids[t.ExternalRef] }) {
			break
		}
		for _, t := range r.templates {
			guids[t.ExternalRef] = true
		}
		templates += len(r.templates)
		end++
	}
	return end, nil
}

func (s *Summary) add(o Summary) {
	s.Added += o.Added
	s.Updated += o.Updated
	s.Unchanged += o.Unchanged
	s.Kept += o.Kept
	s.Failed += o.Failed
	s.Failures = append(s.Failures, o.Failures...)
	s.Untagged = append(s.Untagged, o.Untagged...)
	s.Templates = append(s.Templates, o.Templates...)
}

// writeBatch writes the parsed files [start, end) in one transaction and
// returns each file's summary, in order, and the templates it updated.
func (w *writer) writeBatch(ctx context.Context, results []parsed, start, end int) ([]Summary, []uuid.UUID, error) {
	var (
		sums    []Summary
		updated []uuid.UUID
	)
	err := database.WithTx(ctx, w.client, func(tx *ent.Tx) error {
		// Imports take turns batch by batch: the GUID lookup of one must
		// see what another has just committed, or two imports of the same
		// files at once would both add every test.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, atomicImportLock); err != nil {
			return fmt.Errorf("import lock: %w", err)
		}
		var err error
		sums, updated, err = w.importFiles(ctx, tx, results, start, end)
		return err
	})
	if err != nil {
		return nil, nil, err // rolled back: nothing of it was written
	}
	return sums, updated, nil
}

// importFiles writes a batch of technique files' tests: one query finds
// the templates already imported, one INSERT per 500 new templates and per
// 500 of their tags, one UPDATE per changed template (rare: upstream
// changes a few tests a release), then one query and one INSERT for the
// tags the updated ones lack, and one upsert of the files' rows (with, when
// templates were updated, one DELETE of the rows of other files naming
// them). It returns the files' summaries and the templates it updated.
func (w *writer) importFiles(ctx context.Context, tx *ent.Tx, all []parsed, start, end int) ([]Summary, []uuid.UUID, error) {
	sources, results, known := w.sources[start:end], all[start:end], w.known[start:end]
	cat, opts := w.cat, w.opts
	var guids []string
	for _, r := range results {
		for _, t := range r.templates {
			guids = append(guids, t.ExternalRef)
		}
	}
	// Deleted templates count: the library's owner deleted them on purpose.
	existing, err := tx.TestTemplate.Query().
		Where(testtemplate.SourceEQ(testtemplate.SourceAtomic), testtemplate.ExternalRefIn(guids...)).
		All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return nil, nil, err
	}
	byGUID := make(map[string]*ent.TestTemplate, len(existing))
	for _, t := range existing {
		byGUID[t.ExternalRef] = t
	}
	sums := make([]Summary, len(results))
	var (
		creates []*ent.TestTemplateCreate
		tags    []*ent.TestTemplateMitreTagCreate
		retags  = map[uuid.UUID]Ref{}
		updated []uuid.UUID
		shas    []string
		rows    []*ent.LibraryImportFileCreate
	)
	for k, r := range results {
		sum := &sums[k]
		ref, tagged := cat[r.file.AttackTechnique]
		// The catalogue lacked the file's technique when it was last
		// written and has it now: its unchanged tests get their tag.
		tagNow := tagged && known[k].row != nil && len(known[k].row.Untagged) > 0
		// Its row is written when each of its templates holds the file's
		// content hash afterwards (atomic_files.go): not when one is kept
		// as edited with another import's hash.
		whole := true
		for i, t := range r.templates {
			if !tagged {
				sum.Untagged = append(sum.Untagged, Untagged{File: sources[k].Name, Test: t.Name, TechniqueID: t.TechniqueID})
			}
			hash := r.hashes[i]
			old, ok := byGUID[t.ExternalRef]
			if !ok {
				id := uuid.New()
				creates = append(creates, tx.TestTemplate.Create().SetID(id).SetName(t.Name).SetDescription(t.Description).
					SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).
					SetPlatforms(t.Platforms).SetSource(testtemplate.SourceAtomic).SetExternalRef(t.ExternalRef).
					SetImportHash(hash).SetNillableCreatedByID(opts.CreatedBy))
				if tagged {
					tags = append(tags, setTag(tx.TestTemplateMitreTag.Create().SetTestTemplateID(id), ref))
				}
				sum.Added++
				sum.Templates = append(sum.Templates, id)
				continue
			}
			sum.Templates = append(sum.Templates, old.ID)
			edited := old.DeletedAt != nil || rowHash(old, t.TechniqueID) != old.ImportHash
			switch {
			case hash == old.ImportHash && !edited:
				sum.Unchanged++
				if tagNow {
					retags[old.ID] = ref
				}
			case edited && !opts.Overwrite:
				sum.Kept++
				whole = whole && hash == old.ImportHash
			default:
				err := tx.TestTemplate.UpdateOneID(old.ID).SetName(t.Name).SetDescription(t.Description).
					SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).
					SetPlatforms(t.Platforms).SetImportHash(hash).AddVersion(1).ClearDeletedAt().
					Exec(schema.SkipSoftDelete(ctx))
				if err != nil {
					return nil, nil, err
				}
				if tagged {
					retags[old.ID] = ref
				}
				sum.Updated++
				updated = append(updated, old.ID)
			}
		}
		if whole {
			shas = append(shas, known[k].sha)
			rows = append(rows, fileRow(tx, known[k].sha, w.catalogue, *sum))
		}
	}
	for chunk := range slices.Chunk(creates, insertChunk) {
		if err := tx.TestTemplate.CreateBulk(chunk...).Exec(ctx); err != nil {
			return nil, nil, err
		}
	}
	missing, err := untaggedOf(ctx, tx, retags)
	if err != nil {
		return nil, nil, err
	}
	tags = append(tags, missing...)
	for chunk := range slices.Chunk(tags, insertChunk) {
		if err := tx.TestTemplateMitreTag.CreateBulk(chunk...).Exec(ctx); err != nil {
			return nil, nil, err
		}
	}
	if err := forgetFiles(ctx, tx, updated); err != nil {
		return nil, nil, err
	}
	if err := saveFiles(ctx, tx, shas, rows); err != nil {
		return nil, nil, err
	}
	return sums, updated, nil
}

// untaggedOf returns the tags to add so that each updated template has
// its technique's tag (tags people added stay), reading the tags they
// have in one query.
func untaggedOf(ctx context.Context, tx *ent.Tx, want map[uuid.UUID]Ref) ([]*ent.TestTemplateMitreTagCreate, error) {
	if len(want) == 0 {
		return nil, nil
	}
	ids := slices.SortedFunc(maps.Keys(want), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	have, err := tx.TestTemplateMitreTag.Query().Where(testtemplatemitretag.TestTemplateIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	tagged := map[uuid.UUID]bool{}
	for _, g := range have {
		if ref := want[g.TestTemplateID]; ref.ID == tagRefID(g, ref.Kind) {
			tagged[g.TestTemplateID] = true
		}
	}
	var out []*ent.TestTemplateMitreTagCreate
	for _, id := range ids {
		if !tagged[id] {
			out = append(out, setTag(tx.TestTemplateMitreTag.Create().SetTestTemplateID(id), want[id]))
		}
	}
	return out, nil
}

// tagRefID is the ID a tag points at in the column of kind.
func tagRefID(g *ent.TestTemplateMitreTag, kind string) uuid.UUID {
	var p *uuid.UUID
	switch kind {
	case KindTactic:
		p = g.TacticID
	case KindTechnique:
		p = g.TechniqueID
	default:
		p = g.SubtechniqueID
	}
	if p == nil {
		return uuid.Nil
	}
	return *p
}

// contentHash fingerprints what an import writes into a template.
func contentHash(t atomic.Template) string {
	return fingerprint(t.Name, t.Description, t.Procedure, t.Prerequisites, t.Cleanup,
		strings.Join(t.Platforms, "\x1f"), t.TechniqueID)
}

// rowHash fingerprints a template row the same way, to tell whether
// someone edited it since the import that wrote it.
func rowHash(r *ent.TestTemplate, techniqueID string) string {
	return fingerprint(r.Name, r.Description, r.Procedure, r.Prerequisites, r.Cleanup,
		strings.Join(r.Platforms, "\x1f"), techniqueID)
}

// fingerprint hashes each part as "<length>:<part>\x1e". The bytes are
// stored (import_hash) and compared with later imports': they must never
// change (TestFingerprintIsStable). Appended by hand rather than through
// fmt, which was a tenth of a re-import's CPU.
func fingerprint(parts ...string) string {
	h := sha256.New()
	var buf []byte
	for _, p := range parts {
		buf = strconv.AppendInt(buf[:0], int64(len(p)), 10)
		buf = append(buf, ':')
		buf = append(buf, p...)
		buf = append(buf, 0x1e)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
