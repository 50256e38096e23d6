package sigma

import (
	"context"
	"errors"
	"fmt"
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
// catalogue, by rule id: a new rule is added; a known one whose content is
// the same is unchanged, else updated with its revision bumped; a rule
// deleted from the catalogue stays deleted (counted as kept). A file
// refused (see Parse), or the second file of the import with the same
// rule id, is a failure and the others go on. The writes are one
// transaction (all or nothing), one statement for the known rules and one
// per batch of rules written.
func Import(ctx context.Context, client *ent.Client, files []File, opts Options) (Summary, error) {
	sum := Summary{Files: len(files)}
	progress := func(done int) {
		if opts.Progress != nil {
			opts.Progress(done, len(files))
		}
	}
	var (
		rules []*Rule
		from  = map[string]string{} // rule id → the file it came from
	)
	for i, f := range files {
		r, err := Parse(f.Name, f.Data)
		switch {
		case err != nil:
			sum.fail(f.Name, reason(err))
		case from[r.UID] != "":
			sum.fail(f.Name, fmt.Sprintf("the rule id %s is also the one of %s", r.UID, from[r.UID]))
		default:
			from[r.UID] = f.Name
			rules = append(rules, r)
		}
		// Reading is the first half of the work, writing the second.
		if i%50 == 0 {
			progress(i / 2)
		}
	}
	progress(len(files) / 2)
	if len(rules) == 0 {
		return sum, nil
	}
	err := database.WithTx(ctx, client, func(tx *ent.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, importLock); err != nil {
			return fmt.Errorf("wait for other Sigma imports: %w", err)
		}
		uids := make([]string, len(rules))
		for i, r := range rules {
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
		var writes []*ent.DetectionRuleCreate
		for _, r := range rules {
			revision := 1
			if k := byUID[r.UID]; k != nil {
				switch {
				case k.DeletedAt != nil:
					sum.Kept++
					continue
				case k.ContentSha256 == r.SHA256:
					sum.Unchanged++
					continue
				}
				sum.Updated++
				revision = k.Revision + 1
			} else {
				sum.Added++
			}
			writes = append(writes, tx.DetectionRule.Create().
				SetRuleUID(r.UID).SetTitle(r.Title).SetStatus(r.Status).SetLevel(r.Level).
				SetDescription(r.Description).SetAuthor(r.Author).SetLogsource(r.Logsource).
				SetTags(nonNil(r.Tags)).SetTechniques(nonNil(r.Techniques)).SetReferences(nonNil(r.References)).
				SetDate(r.Date).SetModified(r.Modified).SetSource(source(from[r.UID])).
				SetContent(r.Content).SetContentSha256(r.SHA256).SetRevision(revision))
		}
		done := 0
		for chunk := range slices.Chunk(writes, batch) {
			// A known rule is updated in place (the unique rule_uid index
			// is the conflict): every field written, created_at kept.
			if err := tx.DetectionRule.CreateBulk(chunk...).
				OnConflictColumns(detectionrule.FieldRuleUID).UpdateNewValues().Exec(ctx); err != nil {
				return fmt.Errorf("write the rules: %w", err)
			}
			done += len(chunk)
			half := len(files) / 2
			progress(half + (len(files)-half)*done/len(writes))
		}
		return nil
	})
	if err != nil {
		// Nothing was written: every counted rule is undone.
		sum.Added, sum.Updated, sum.Unchanged, sum.Kept = 0, 0, 0, 0
		return sum, err
	}
	progress(len(files))
	return sum, nil
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
