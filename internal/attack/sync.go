package attack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/ent/mitresubtechnique"
	"violet/ent/mitretactic"
	"violet/ent/mitretechnique"
)

// lockKey serialises catalogue syncs across every instance ("violet-a").
const lockKey int64 = 0x76696f6c65742d61

// ErrSyncRunning is returned when another sync holds the lock.
var ErrSyncRunning = errors.New("another ATT&CK sync is running; wait for it to finish")

// Counts is what a sync did.
type Counts struct {
	Added     int // new entries
	Updated   int // entries whose content changed
	Revoked   int // entries newly revoked or deprecated
	Unchanged int
}

// batch is how many rows one INSERT carries (15 columns each, well under
// PostgreSQL's 65,535 parameters).
const batch = 500

// Sync brings the catalogue in tx up to b: entries are matched on their STIX
// id, new ones inserted, changed ones updated, unchanged ones left alone.
// Nothing is deleted: an entry revoked or deprecated in the bundle is
// flagged, and one missing from the bundle stays as it was, so tags that
// name it keep working. progress, when set, is told how many entries are
// done out of how many.
//
// The catalogue is read once per kind and compared in memory; what is new
// or changed is written with one INSERT … ON CONFLICT (stix_id) DO UPDATE
// per kind (per 500 rows): an upgrade to a new release, which changes
// nearly every entry, was 1,600 single-row UPDATEs. An unchanged bundle
// writes nothing.
func Sync(ctx context.Context, tx *ent.Tx, b *Bundle, progress func(done, total int)) (Counts, error) {
	if err := lock(ctx, tx); err != nil {
		return Counts{}, err
	}
	return apply(ctx, tx, b, progress)
}

// apply is Sync once the sync lock is held.
func apply(ctx context.Context, tx *ent.Tx, b *Bundle, progress func(done, total int)) (Counts, error) {
	var c Counts
	total, done := b.Size(), 0
	step := func(n int) {
		done += n
		if progress != nil {
			progress(done, total)
		}
	}

	// Tactics.
	tactics, err := tx.MitreTactic.Query().All(ctx)
	if err != nil {
		return c, fmt.Errorf("read tactics: %w", err)
	}
	tacticIDs := map[string]uuid.UUID{}
	oldTactics := map[string]*ent.MitreTactic{}
	for _, t := range tactics {
		oldTactics[t.StixID], tacticIDs[t.StixID] = t, t.ID
	}
	var writeTactics []*ent.MitreTacticCreate
	for _, t := range b.Tactics {
		old, ok := oldTactics[t.StixID]
		var id uuid.UUID
		switch {
		case !ok:
			id = uuid.New()
			tacticIDs[t.StixID] = id
			c.Added++
		case sameEntry(old.ExternalID, old.Name, old.Description, old.URL, old.Platforms, old.Revoked, old.Deprecated, "", old.StixModified, t.Entry) &&
			old.Shortname == t.Shortname && old.Position == t.Position:
			c.Unchanged++
			continue
		default:
			id = old.ID
			c.count(old.Revoked, old.Deprecated, t.Entry)
		}
		writeTactics = append(writeTactics, tx.MitreTactic.Create().SetID(id).SetStixID(t.StixID).
			SetExternalID(t.ExternalID).SetName(t.Name).SetDescription(t.Description).SetURL(t.URL).
			SetPlatforms(t.Platforms).SetRevoked(t.Revoked).SetDeprecated(t.Deprecated).
			SetAttackVersion(b.Version).SetNillableStixModified(t.Modified).
			SetShortname(t.Shortname).SetPosition(t.Position))
	}
	for chunk := range slices.Chunk(writeTactics, batch) {
		if err := tx.MitreTactic.CreateBulk(chunk...).OnConflictColumns(mitretactic.FieldStixID).UpdateNewValues().Exec(ctx); err != nil {
			return c, fmt.Errorf("write tactics: %w", err)
		}
	}
	step(len(b.Tactics))

	// Techniques, then their tactics (the join table, written by hand:
	// ent's bulk create adds edges but an upsert must replace them).
	techniques, err := tx.MitreTechnique.Query().WithTactics().All(ctx)
	if err != nil {
		return c, fmt.Errorf("read techniques: %w", err)
	}
	techniqueIDs := map[string]uuid.UUID{}
	oldTechniques := map[string]*ent.MitreTechnique{}
	for _, t := range techniques {
		oldTechniques[t.StixID], techniqueIDs[t.StixID] = t, t.ID
	}
	var (
		writeTechniques        []*ent.MitreTechniqueCreate
		clearTactics           []string // techniques whose tactics change
		edgeTechs, edgeTactics []string // the join rows to add
	)
	for _, t := range b.Techniques {
		want := make([]uuid.UUID, len(t.Tactics))
		for j, s := range t.Tactics {
			want[j] = tacticIDs[s]
		}
		old, ok := oldTechniques[t.StixID]
		var id uuid.UUID
		sameTactics := false
		if !ok {
			id = uuid.New()
			techniqueIDs[t.StixID] = id
			c.Added++
		} else {
			id = old.ID
			have := make([]uuid.UUID, len(old.Edges.Tactics))
			for j, tt := range old.Edges.Tactics {
				have[j] = tt.ID
			}
			sameTactics = sameSet(have, want)
			if sameEntry(old.ExternalID, old.Name, old.Description, old.URL, old.Platforms, old.Revoked, old.Deprecated,
				old.RevokedByStixID, old.StixModified, t.Entry) && sameTactics {
				c.Unchanged++
				continue
			}
			c.count(old.Revoked, old.Deprecated, t.Entry)
			if !sameTactics {
				clearTactics = append(clearTactics, id.String())
			}
		}
		writeTechniques = append(writeTechniques, tx.MitreTechnique.Create().SetID(id).SetStixID(t.StixID).
			SetExternalID(t.ExternalID).SetName(t.Name).SetDescription(t.Description).SetURL(t.URL).
			SetPlatforms(t.Platforms).SetRevoked(t.Revoked).SetDeprecated(t.Deprecated).
			SetRevokedByStixID(t.RevokedBy).SetAttackVersion(b.Version).SetNillableStixModified(t.Modified))
		if !sameTactics {
			for _, tid := range want { // distinct: Read drops repeated tactics
				edgeTechs, edgeTactics = append(edgeTechs, id.String()), append(edgeTactics, tid.String())
			}
		}
	}
	for chunk := range slices.Chunk(writeTechniques, batch) {
		if err := tx.MitreTechnique.CreateBulk(chunk...).OnConflictColumns(mitretechnique.FieldStixID).UpdateNewValues().Exec(ctx); err != nil {
			return c, fmt.Errorf("write techniques: %w", err)
		}
		step(len(chunk))
	}
	if len(clearTactics) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mitre_technique_tactics WHERE technique_id = ANY($1::uuid[])`,
			pq.Array(clearTactics)); err != nil {
			return c, fmt.Errorf("clear technique tactics: %w", err)
		}
	}
	if len(edgeTechs) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mitre_technique_tactics (technique_id, tactic_id)
			SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING`,
			pq.Array(edgeTechs), pq.Array(edgeTactics)); err != nil {
			return c, fmt.Errorf("write technique tactics: %w", err)
		}
	}
	step(len(b.Techniques) - len(writeTechniques))

	// Sub-techniques under their parents.
	subs, err := tx.MitreSubtechnique.Query().All(ctx)
	if err != nil {
		return c, fmt.Errorf("read sub-techniques: %w", err)
	}
	oldSubs := map[string]*ent.MitreSubtechnique{}
	for _, s := range subs {
		oldSubs[s.StixID] = s
	}
	var writeSubs []*ent.MitreSubtechniqueCreate
	for _, s := range b.Subtechniques {
		parent, ok := techniqueIDs[s.Parent]
		if !ok {
			return c, fmt.Errorf("sub-technique %s: parent %s is not in the catalogue", s.ExternalID, s.Parent)
		}
		old, ok := oldSubs[s.StixID]
		switch {
		case !ok:
			c.Added++
		case sameEntry(old.ExternalID, old.Name, old.Description, old.URL, old.Platforms, old.Revoked, old.Deprecated,
			old.RevokedByStixID, old.StixModified, s.Entry) && old.TechniqueID == parent:
			c.Unchanged++
			continue
		default:
			c.count(old.Revoked, old.Deprecated, s.Entry)
		}
		writeSubs = append(writeSubs, tx.MitreSubtechnique.Create().SetStixID(s.StixID).
			SetExternalID(s.ExternalID).SetName(s.Name).SetDescription(s.Description).SetURL(s.URL).
			SetPlatforms(s.Platforms).SetRevoked(s.Revoked).SetDeprecated(s.Deprecated).
			SetRevokedByStixID(s.RevokedBy).SetAttackVersion(b.Version).SetNillableStixModified(s.Modified).
			SetTechniqueID(parent))
	}
	for chunk := range slices.Chunk(writeSubs, batch) {
		if err := tx.MitreSubtechnique.CreateBulk(chunk...).OnConflictColumns(mitresubtechnique.FieldStixID).UpdateNewValues().Exec(ctx); err != nil {
			return c, fmt.Errorf("write sub-techniques: %w", err)
		}
		step(len(chunk))
	}
	step(len(b.Subtechniques) - len(writeSubs))
	return c, nil
}

// count files a changed entry under revoked when it has just become revoked
// or deprecated, under updated otherwise.
func (c *Counts) count(wasRevoked, wasDeprecated bool, e Entry) {
	if (e.Revoked && !wasRevoked) || (e.Deprecated && !wasDeprecated) {
		c.Revoked++
	} else {
		c.Updated++
	}
}

// lock takes the sync lock for the transaction, or reports that another
// sync holds it.
func lock(ctx context.Context, tx *ent.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, lockKey)
	if err != nil {
		return fmt.Errorf("sync lock: %w", err)
	}
	defer rows.Close()
	var got bool
	if !rows.Next() || rows.Scan(&got) != nil {
		return fmt.Errorf("sync lock: %w", rows.Err())
	}
	if !got {
		return ErrSyncRunning
	}
	return nil
}

// sameEntry compares what a stored entry holds with the bundle's.
func sameEntry(externalID, name, description, url string, platforms []string, revoked, deprecated bool,
	revokedBy string, modified *time.Time, e Entry) bool {
	return externalID == e.ExternalID && name == e.Name && description == e.Description && url == e.URL &&
		slices.Equal(platforms, e.Platforms) && revoked == e.Revoked && deprecated == e.Deprecated &&
		revokedBy == e.RevokedBy && sameTime(modified, e.Modified)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	// PostgreSQL keeps microseconds.
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func sameSet(a, b []uuid.UUID) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[uuid.UUID]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}
