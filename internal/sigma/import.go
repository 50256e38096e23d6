package sigma

import (
	"context"
	entsql "entgo.io/ent/dialect/sql"
	"errors"
	"fmt"
	"github.com/lib/pq"
	"slices"

	"violet/ent"
	"violet/ent/detectionrule"
	"violet/ent/predicate"
	"violet/ent/schema"
	"violet/internal/database"
)

// File is one file of an import: its name as the import shows it (the
// path inside the folder or archive) and its bytes.
type File struct {
	Name string
	Data []byte
}

// Failure is a file that could not be imported, and why (the line is in
// the reason when there is one).
type Failure struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// Summary is what an import did. Kept counts rules of the import that
// were deleted from the catalogue: they stay deleted.
type Summary struct {
	Files     int       `json:"files"`
	Added     int       `json:"added"`
	Updated   int       `json:"updated"`
	Unchanged int       `json:"unchanged"`
	Kept      int       `json:"kept"`
	Failed    int       `json:"failed"`
	Failures  []Failure `json:"failures,omitempty"`
}

// Options tune an import.
type Options struct {
	// Progress is told how many files are done out of how many.
	Progress func(done, total int)
}

// importLock is the advisory lock key serialising concurrent Sigma
// imports: each reads the catalogue, then writes what it lacks, and two
// at once would both add the same rule (any value unique among Violet's
// locks).
const importLock = 0x766c_7369_676d // "vlsigm"

// batch bounds the rows of one statement: 17 columns × 500 rows stays far
// under PostgreSQL's 65,535 parameters.
const batch = 500

// Import reads the Sigma rule files and writes them into the rule
// catalogue in one transaction of its own (Read, then Batch.Write; an
// import job writes in the transaction that records its end instead).
func Import(ctx context.Context, client *ent.Client, files []File, opts Options) (Summary, error) {
	b, sum := Read(files, opts.Progress)
	if len(b.rules) == 0 {
		return sum, nil
	}
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error { return b.Write(ctx, tx, &sum) })
	if err != nil {
		return sum, err
	}
	if opts.Progress != nil {
		opts.Progress(len(files), len(files))
	}
	return sum, nil
}

// Batch is the rules an import read, ready to be written.
type Batch struct {
	rules []*Rule
	from  map[string]string // rule id → the file it came from
}

// Empty reports whether no rule was read (every file refused, or none).
func (b Batch) Empty() bool { return len(b.rules) == 0 }

// Read parses the files: a file refused (see Parse), or the second file
// of the import with the same rule id, is a failure in the summary and
// the others go on. progress (may be nil) is told about the first half of
// the work, the reading.
func Read(files []File, progress func(done, total int)) (Batch, Summary) {
	sum := Summary{Files: len(files)}
	b := Batch{from: map[string]string{}}
	for i, f := range files {
		r, err := Parse(f.Name, f.Data)
		switch {
		case err != nil:
			sum.fail(f.Name, reason(err))
		case b.from[r.UID] != "":
			sum.fail(f.Name, fmt.Sprintf("the rule id %s is also the one of %s", r.UID, b.from[r.UID]))
		default:
			b.from[r.UID] = f.Name
			b.rules = append(b.rules, r)
		}
		if progress != nil && i%50 == 0 {
			progress(i/2, len(files))
		}
	}
	return b, sum
}

// Write writes the batch into the rule catalogue in tx, by rule id, and
// counts what it did in sum: a new rule is added; a known one whose
// content is the same is unchanged, else updated with its revision
// bumped; a rule deleted from the catalogue stays deleted (counted as
// kept). One statement reads the known rules and one writes each batch
// of rules, under a lock that makes concurrent Sigma imports take turns.
// On error sum's counts are left as they were (the caller's transaction
// writes nothing).
func (b Batch) Write(ctx context.Context, tx *ent.Tx, sum *Summary) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, importLock); err != nil {
		return fmt.Errorf("wait for other Sigma imports: %w", err)
	}
	uids := make([]string, len(b.rules))
	for i, r := range b.rules {
		uids[i] = r.UID
	}
	// Deleted rules too: they are kept deleted, not added again.
	known, err := tx.DetectionRule.Query().
		Where(predicate.DetectionRule(database.In(detectionrule.FieldRuleUID, uids))).
		Select(detectionrule.FieldRuleUID, detectionrule.FieldContentSha256, detectionrule.FieldRevision, detectionrule.FieldDeletedAt).
		All(schema.SkipSoftDelete(ctx))
	if err != nil {
		return fmt.Errorf("read the known rules: %w", err)
	}
	byUID := make(map[string]*ent.DetectionRule, len(known))
	for _, k := range known {
		byUID[k.RuleUID] = k
	}
	counts := *sum
	var writes []*ent.DetectionRuleCreate
	for _, r := range b.rules {
		revision := 1
		if k := byUID[r.UID]; k != nil {
			switch {
			case k.DeletedAt != nil:
				counts.Kept++
				continue
			case k.ContentSha256 == r.SHA256:
				counts.Unchanged++
				continue
			}
			counts.Updated++
			revision = k.Revision + 1
		} else {
			counts.Added++
		}
		writes = append(writes, tx.DetectionRule.Create().
			SetRuleUID(r.UID).SetTitle(r.Title).SetStatus(r.Status).SetLevel(r.Level).
			SetDescription(r.Description).SetAuthor(r.Author).SetLogsource(r.Logsource).
			SetTags(nonNil(r.Tags)).SetTechniques(nonNil(r.Techniques)).SetReferences(nonNil(r.References)).
			SetDate(r.Date).SetModified(r.Modified).SetSource(source(b.from[r.UID])).
			SetContent(r.Content).SetContentSha256(r.SHA256).SetRevision(revision))
	}
	for chunk := range slices.Chunk(writes, batch) {
		// A known rule is updated in place (the unique rule_uid index is
		// the conflict): every field written, created_at kept.
		if err := tx.DetectionRule.CreateBulk(chunk...).
			OnConflictColumns(detectionrule.FieldRuleUID).UpdateNewValues().Exec(ctx); err != nil {
			return fmt.Errorf("write the rules: %w", err)
		}
	}
	*sum = counts
	return nil
}

// reason is a refused file's reason without its name (the failure
// names the file): "line 3: …".
func reason(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

func (s *Summary) fail(file, reason string) {
	s.Failed++
	s.Failures = append(s.Failures, Failure{File: file, Reason: reason})
}

// sourceMax is the source column's length.
var sourceMax = textRuleMax("source")

// source keeps a file's name within its column (its end, which names the
// rule file, is what matters).
func source(name string) string {
	if len(name) <= sourceMax {
		return name
	}
	cut := len(name) - sourceMax + len("…")
	for cut < len(name) && (name[cut]&0xC0) == 0x80 {
		cut++
	}
	return "…" + name[cut:]
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clip(s)
}

// ForTechniques narrows a rule query to the rules naming any of the ATT&CK
// IDs (techniques ?| ids), which the GIN index on techniques answers
// whatever the size of the catalogue.
func ForTechniques(ids []string) predicate.DetectionRule {
	return func(s *entsql.Selector) {
		s.Where(entsql.P(func(b *entsql.Builder) {
			b.Ident(s.C(detectionrule.FieldTechniques)).WriteString(" ?| ").Arg(pq.Array(ids))
		}))
	}
}
