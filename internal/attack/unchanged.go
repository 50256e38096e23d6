package attack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	entsql "entgo.io/ent/dialect/sql"

	"violet/ent"
	"violet/ent/attacksync"
)

// A re-sync of the bundle the last successful sync read writes nothing
// and compares nothing: each sync keeps the SHA-256 of the bytes it read
// (attack_syncs.bundle_sha256), and one whose bundle has the same hash
// as the last successful sync's records itself as succeeded with every
// entry unchanged. That is what the full compare would find, because
// only a sync writes the catalogue (nothing else inserts, updates or
// deletes mitre_* rows; a restore brings its attack_syncs with it). A
// release of Violet that changes what a sync keeps from a bundle must
// make the next sync compare in full: its migration clears
// bundle_sha256.
//
// Where the hash is known first: a file (the command line's, an upload's
// copy, any reader that can seek) is hashed before it is read, and when
// the hash matches it is never parsed. Measured on the full 17.1 bundle
// (44 MB, 2 cores, BenchmarkSyncFull against the code before, runs
// alternated, medians of 3): hashing takes ~40 ms, parsing ~290 ms; an
// unchanged re-sync of a file went from 347 ms (parse and compare) to
// 45 ms, where hashing while parsing saves only the compare (395 → 383
// ms). A download cannot be read twice without holding it, so it is
// hashed as it is parsed (io.TeeReader), and a match saves the
// catalogue's reads and the compare.

// errChanged ends the transaction of a sync that skipped reading its file
// because the hash matched the last sync's, when under the sync lock
// another sync turns out to have succeeded since: the file is read and
// compared in full after all.
var errChanged = errors.New("the catalogue changed since the hash was compared")

// digest is the SHA-256 of the bytes written to it, and how many.
type digest struct {
	h hash.Hash
	n int64
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return d.h.Write(p)
}

func (d *digest) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// rest hashes what Read left of the stream (it stops at the bundle's
// closing brace; a final newline may follow), so that the sum is the
// whole file's, as the hash of a file taken before reading it. A stream
// that goes on past MaxBundleBytes, or cannot be read to its end, keeps no
// sum: the next sync compares in full.
func (d *digest) rest(tee io.Reader) string {
	if _, err := io.Copy(io.Discard, io.LimitReader(tee, MaxBundleBytes+1-d.n)); err != nil || d.n > MaxBundleBytes {
		return ""
	}
	return d.sum()
}

// hashFile is the sum of the file r, "" when it cannot be read or is
// larger than any bundle Read accepts (Read will say why).
func hashFile(r io.Reader) string {
	d := newDigest()
	if _, err := io.Copy(d, io.LimitReader(r, MaxBundleBytes+1)); err != nil || d.n > MaxBundleBytes {
		return ""
	}
	return d.sum()
}

// lastSucceeded is the last successful sync, nil when there is none.
// Syncs commit one at a time under the sync lock and take finished_at
// under it, so the latest finished_at is the last one committed.
func lastSucceeded(ctx context.Context, q *ent.AttackSyncClient) (*ent.AttackSync, error) {
	last, err := q.Query().Where(attacksync.StatusEQ(attacksync.StatusSucceeded), attacksync.FinishedAtNotNil()).
		Order(attacksync.ByFinishedAt(entsql.OrderDesc())).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return last, err
}
