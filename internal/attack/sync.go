package attack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"violet/ent"
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

// batch is how many rows one INSERT carries.
const batch = 500

// Sync brings the catalogue in tx up to b: entries are matched on their STIX
// id, new ones inserted, changed ones updated, unchanged ones left alone.
// Nothing is deleted: an entry revoked or deprecated in the bundle is
// flagged, and one missing from the bundle stays as it was, so tags that
// name it keep working. progress, when set, is told how many entries are
// done out of how many.
func Sync(ctx context.Context, tx *ent.Tx, b *Bundle, progress func(done, total int)) (Counts, error) {
	var c Counts
	if err := lock(ctx, tx); err != nil {
		return c, err
	}
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
	var newTactics []*ent.MitreTacticCreate
	for _, t := range b.Tactics {
		old, ok := oldTactics[t.StixID]
		if !ok {
			id := uuid.New()
			tacticIDs[t.StixID] = id
			newTactics = append(newTactics, tx.MitreTactic.Create().SetID(id).SetStixID(t.StixID).
				SetExternalID(t.ExternalID).SetName(t.Name).SetDescription(t.Description).SetURL(t.URL).
				SetPlatforms(t.Platforms).SetRevoked(t.Revoked).SetDeprecated(t.Deprecated).
				SetAttackVersion(b.Version).SetNillableStixModified(t.Modified).
				SetShortname(t.Shortname).SetPosition(t.Position))
			c.Added++
			continue
		}
		if sameEntry(old.ExternalID, old.Name, old.Description, old.URL, old.Platforms, old.Revoked, old.Deprecated, "", old.StixModified, t.Entry) &&
			old.Shortname == t.Shortname && old.Position == t.Position {
			c.Unchanged++
			continue
		}
		c.count(old.Revoked, old.Deprecated, t.Entry)
		err := tx.MitreTactic.UpdateOneID(old.ID).SetExternalID(t.ExternalID).SetName(t.Name).
			SetDescription(t.Description).SetURL(t.URL).SetPlatforms(t.Platforms).SetRevoked(t.Revoked).
			SetDeprecated(t.Deprecated).SetAttackVersion(b.Version).SetNillableStixModified(t.Modified).
			SetShortname(t.Shortname).SetPosition(t.Position).Exec(ctx)
		if err != nil {
			return c, fmt.Errorf("update tactic %s: %w", t.ExternalID, err)
		}
	}
	for chunk := range slices.Chunk(newTactics, batch) {
		if err := tx.MitreTactic.CreateBulk(chunk...).Exec(ctx); err != nil {
			return c, fmt.Errorf("insert tactics: %w", err)
		}
	}
	step(len(b.Tactics))

	// Techniques and their tactics.
	techniques, err := tx.MitreTechnique.Query().WithTactics().All(ctx)
	if err != nil {
		return c, fmt.Errorf("read techniques: %w", err)
	}
	techniqueIDs := map[string]uuid.UUID{}
	oldTechniques := map[string]*ent.MitreTechnique{}
	for _, t := range techniques {
		oldTechniques[t.StixID], techniqueIDs[t.StixID] = t, t.ID
	}
	var newTechniques []*ent.MitreTechniqueCreate
	for i, t := range b.Techniques {
		want := make([]uuid.UUID, len(t.Tactics))
		for j, s := range t.Tactics {
			want[j] = tacticIDs[s]
		}
		old, ok := oldTechniques[t.StixID]
		if !ok {
			id := uuid.New()
			techniqueIDs[t.StixID] = id
			newTechniques = append(newTechniques, tx.MitreTechnique.Create().SetID(id).SetStixID(t.StixID).
				SetExternalID(t.ExternalID).SetName(t.Name).SetDescription(t.Description).SetURL(t.URL).
				SetPlatforms(t.Platforms).SetRevoked(t.Revoked).SetDeprecated(t.Deprecated).
				SetRevokedByStixID(t.RevokedBy).SetAttackVersion(b.Version).SetNillableStixModified(t.Modified).
				AddTacticIDs(want...))
			c.Added++
		} else {
			have := make([]uuid.UUID, len(old.Edges.Tactics))
			for j, tt := range old.Edges.Tactics {
				have[j] = tt.ID
			}
			sameTactics := sameSet(have, want)
			if sameEntry(old.ExternalID, old.Name, old.Description, old.URL, old.Platforms, old.Revoked, old.Deprecated,
				old.RevokedByStixID, old.StixModified, t.Entry) && sameTactics {
				c.Unchanged++
			} else {
				c.count(old.Revoked, old.Deprecated, t.Entry)
				upd := tx.MitreTechnique.UpdateOneID(old.ID).SetExternalID(t.ExternalID).SetName(t.Name).
					SetDescription(t.Description).SetURL(t.URL).SetPlatforms(t.Platforms).SetRevoked(t.Revoked).
					SetDeprecated(t.Deprecated).SetRevokedByStixID(t.RevokedBy).SetAttackVersion(b.Version).
					SetNillableStixModified(t.Modified)
				if !sameTactics {
					upd.ClearTactics().AddTacticIDs(want...)
				}
				if err := upd.Exec(ctx); err != nil {
					return c, fmt.Errorf("update technique %s: %w", t.ExternalID, err)
				}
			}
		}
		if (i+1)%batch == 0 {
			step(batch)
		}
	}
	for chunk := range slices.Chunk(newTechniques, batch) {
		if err := tx.MitreTechnique.CreateBulk(chunk...).Exec(ctx); err != nil {
			return c, fmt.Errorf("insert techniques: %w", err)
		}
	}
	step(len(b.Techniques) % batch)

	// Sub-techniques under their parents.
	subs, err := tx.MitreSubtechnique.Query().All(ctx)
	if err != nil {
		return c, fmt.Errorf("read sub-techniques: %w", err)
	}
	oldSubs := map[string]*ent.MitreSubtechnique{}
	for _, s := range subs {
		oldSubs[s.StixID] = s
	}
	var newSubs []*ent.MitreSubtechniqueCreate
	for i, s := range b.Subtechniques {
		parent, ok := techniqueIDs[s.Parent]
		if !ok {
			return c, fmt.Errorf("sub-technique %s: parent %s is not in the catalogue", s.ExternalID, s.Parent)
		}
		old, ok := oldSubs[s.StixID]
		switch {
		case !ok:
			newSubs = append(newSubs, tx.MitreSubtechnique.Create().SetStixID(s.StixID).
				SetExternalID(s.ExternalID).SetName(s.Name).SetDescription(s.Description).SetURL(s.URL).
				SetPlatforms(s.Platforms).SetRevoked(s.Revoked).SetDeprecated(s.Deprecated).
				SetRevokedByStixID(s.RevokedBy).SetAttackVersion(b.Version).SetNillableStixModified(s.Modified).
				SetTechniqueID(parent))
			c.Added++
		case sameEntry(old.ExternalID, old.Name, old.Description, old.URL, old.Platforms, old.Revoked, old.Deprecated,
			old.RevokedByStixID, old.StixModified, s.Entry) && old.TechniqueID == parent:
			c.Unchanged++
		default:
			c.count(old.Revoked, old.Deprecated, s.Entry)
			err := tx.MitreSubtechnique.UpdateOneID(old.ID).SetExternalID(s.ExternalID).SetName(s.Name).
				SetDescription(s.Description).SetURL(s.URL).SetPlatforms(s.Platforms).SetRevoked(s.Revoked).
				SetDeprecated(s.Deprecated).SetRevokedByStixID(s.RevokedBy).SetAttackVersion(b.Version).
				SetNillableStixModified(s.Modified).SetTechniqueID(parent).Exec(ctx)
			if err != nil {
				return c, fmt.Errorf("update sub-technique %s: %w", s.ExternalID, err)
			}
		}
		if (i+1)%batch == 0 {
			step(batch)
		}
	}
	for chunk := range slices.Chunk(newSubs, batch) {
		if err := tx.MitreSubtechnique.CreateBulk(chunk...).Exec(ctx); err != nil {
			return c, fmt.Errorf("insert sub-techniques: %w", err)
		}
	}
	step(len(b.Subtechniques) % batch)
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
