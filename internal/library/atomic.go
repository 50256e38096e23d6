package library

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

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
}

// atomicImportLock is the advisory lock key serialising the files of
// concurrent Atomic imports (any value unique among Violet's locks).
const atomicImportLock = 0x766c_6174_6f6d // "vlatom"

// ImportAtomic imports Atomic Red Team technique files: each atomic test
// becomes a test template (source atomic, its GUID as external reference)
// tagged with its technique or sub-technique when the catalogue has it.
// Re-importing updates by GUID and never duplicates. Each file is one
// transaction; a bad file is reported in the summary and the others go on.
// The error is for the database failing, not for bad files.
func ImportAtomic(ctx context.Context, client *ent.Client, sources []Source, opts AtomicOptions) (Summary, error) {
	var sum Summary
	cat, err := LoadCatalogue(ctx, client)
	if err != nil {
		return sum, err
	}
	for i, src := range sources {
		sum.Files++
		f, err := atomic.Parse(src.Data)
		if err != nil {
			sum.Failed++
			sum.Failures = append(sum.Failures, Failure{File: src.Name, Reason: err.Error()})
		} else {
			var fileSum Summary
			err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
				fileSum = Summary{}
				// Imports take turns file by file: the GUID lookup of one
				// must see what another has just committed, or two imports
				// of the same files at once would both add every test.
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, atomicImportLock); err != nil {
					return fmt.Errorf("import lock: %w", err)
				}
				return importFile(ctx, tx, src.Name, f, cat, opts, &fileSum)
			})
			if err != nil {
				if ctx.Err() != nil {
					return sum, ctx.Err()
				}
				sum.Failed++
				sum.Failures = append(sum.Failures, Failure{File: src.Name, Reason: "could not be saved: " + err.Error()})
			} else {
				sum.add(fileSum)
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(sources))
		}
	}
	return sum, nil
}

func (s *Summary) add(o Summary) {
	s.Added += o.Added
	s.Updated += o.Updated
	s.Unchanged += o.Unchanged
	s.Kept += o.Kept
	s.Untagged = append(s.Untagged, o.Untagged...)
	s.Templates = append(s.Templates, o.Templates...)
}

// importFile writes one technique file's tests.
func importFile(ctx context.Context, tx *ent.Tx, file string, f *atomic.File, cat Catalogue, opts AtomicOptions, sum *Summary) error {
	ref, tagged := cat[f.AttackTechnique]
	templates := f.Templates()
	guids := make([]string, len(templates))
	for i, t := range templates {
		guids[i] = t.ExternalRef
	}
	// Deleted templates count: the library's owner deleted them on purpose.
	existing, err := tx.TestTemplate.Query().
		Where(testtemplate.SourceEQ(testtemplate.SourceAtomic), testtemplate.ExternalRefIn(guids...)).
		All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return err
	}
	byGUID := map[string]*ent.TestTemplate{}
	for _, t := range existing {
		byGUID[t.ExternalRef] = t
	}
	var creates []*ent.TestTemplateCreate
	var newIDs []uuid.UUID
	for _, t := range templates {
		if !tagged {
			sum.Untagged = append(sum.Untagged, Untagged{File: file, Test: t.Name, TechniqueID: t.TechniqueID})
		}
		hash := contentHash(t)
		old, ok := byGUID[t.ExternalRef]
		if !ok {
			id := uuid.New()
			c := tx.TestTemplate.Create().SetID(id).SetName(t.Name).SetDescription(t.Description).
				SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).
				SetPlatforms(t.Platforms).SetSource(testtemplate.SourceAtomic).SetExternalRef(t.ExternalRef).
				SetImportHash(hash).SetNillableCreatedByID(opts.CreatedBy)
			creates = append(creates, c)
			newIDs = append(newIDs, id)
			sum.Added++
			sum.Templates = append(sum.Templates, id)
			continue
		}
		sum.Templates = append(sum.Templates, old.ID)
		edited := old.DeletedAt != nil || rowHash(old, t.TechniqueID) != old.ImportHash
		switch {
		case hash == old.ImportHash && !edited:
			sum.Unchanged++
		case edited && !opts.Overwrite:
			sum.Kept++
		default:
			err := tx.TestTemplate.UpdateOneID(old.ID).SetName(t.Name).SetDescription(t.Description).
				SetProcedure(t.Procedure).SetPrerequisites(t.Prerequisites).SetCleanup(t.Cleanup).
				SetPlatforms(t.Platforms).SetImportHash(hash).AddVersion(1).ClearDeletedAt().
				Exec(schema.SkipSoftDelete(ctx))
			if err != nil {
				return err
			}
			if tagged {
				if err := retag(ctx, tx, old.ID, ref); err != nil {
					return err
				}
			}
			sum.Updated++
		}
	}
	for chunk := range slices.Chunk(creates, 500) {
		if err := tx.TestTemplate.CreateBulk(chunk...).Exec(ctx); err != nil {
			return err
		}
	}
	if tagged && len(newIDs) > 0 {
		tags := make([]*ent.TestTemplateMitreTagCreate, len(newIDs))
		for i, id := range newIDs {
			tags[i] = setTag(tx.TestTemplateMitreTag.Create().SetTestTemplateID(id), ref)
		}
		if err := tx.TestTemplateMitreTag.CreateBulk(tags...).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// retag gives an updated template its technique's tag if it lacks it;
// tags people added stay.
func retag(ctx context.Context, tx *ent.Tx, id uuid.UUID, ref Ref) error {
	q := tx.TestTemplateMitreTag.Query().Where(testtemplatemitretag.TestTemplateID(id))
	switch ref.Kind {
	case KindTactic:
		q.Where(testtemplatemitretag.TacticID(ref.ID))
	case KindTechnique:
		q.Where(testtemplatemitretag.TechniqueID(ref.ID))
	default:
		q.Where(testtemplatemitretag.SubtechniqueID(ref.ID))
	}
	if n, err := q.Count(ctx); err != nil || n > 0 {
		return err
	}
	return setTag(tx.TestTemplateMitreTag.Create().SetTestTemplateID(id), ref).Exec(ctx)
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

func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\x1e", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
