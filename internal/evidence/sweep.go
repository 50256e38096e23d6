package evidence

import (
	"context"
	"time"
)

// SweepAge is how old an object no row names must be before the sweep
// removes it: older than any upload still between its rename and its
// commit.
const SweepAge = time.Hour

// Known reports which of keys (originals) a row names, deleted rows
// included (a soft-deleted file is kept for the trash).
type Known func(ctx context.Context, keys []string) (map[string]bool, error)

// sweepBatch is how many keys one Known call checks.
const sweepBatch = 500

// Sweep removes the objects of store that no row names and that were last
// modified before cutoff: files whose upload failed after the rename,
// previews of such files, staging files of interrupted uploads. It
// returns how many it removed. Rows are never left without a file: the
// row is written only after the file is in place, and a file younger than
// cutoff is never touched.
func Sweep(ctx context.Context, store Store, known Known, cutoff time.Time) (int, error) {
	var (
		removed int
		batch   []Object
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		keys := make([]string, 0, len(batch))
		for _, o := range batch {
			if !IsStaging(o.Key) {
				keys = append(keys, OriginalKey(o.Key))
			}
		}
		rows, err := known(ctx, keys)
		if err != nil {
			return err
		}
		for _, o := range batch {
			if !IsStaging(o.Key) && rows[OriginalKey(o.Key)] {
				continue
			}
			if err := store.Delete(ctx, o.Key); err != nil {
				return err
			}
			removed++
		}
		batch = batch[:0]
		return nil
	}
	err := store.List(ctx, func(o Object) error {
		if !o.Modified.Before(cutoff) {
			return nil
		}
		batch = append(batch, o)
		if len(batch) >= sweepBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return removed, err
	}
	return removed, flush()
}
