package attack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"violet/ent/attacksync"
	"violet/internal/auth/rule"
	"violet/internal/testkit/testdb"
)

// TestSkipRechecksUnderTheLock: a file whose hash matched the last
// successful sync before the lock was taken is not skipped when, under
// the lock, another sync has succeeded since: nothing is recorded and
// the job still runs, to be read in full.
func TestSkipRechecksUnderTheLock(t *testing.T) {
	_, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	s := NewSyncer(client, nil, nil, nil, slog.New(slog.DiscardHandler))
	f, err := os.Open("testdata/mini-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := hashFile(f)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	first, _ := s.Begin(ctx, nil, "mini.json")
	if _, err := s.Run(ctx, first, f, -1, "", PhaseRead); err != nil {
		t.Fatal(err)
	}
	if got := client.AttackSync.GetX(ctx, first.ID); got.BundleSha256 != sum {
		t.Fatalf("hash %q, want %q", got.BundleSha256, sum)
	}

	row, _ := s.Begin(ctx, nil, "mini.json")
	j, err := s.take(row)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.finish(ctx, j, row, nil, strings.Repeat("0", 64)); !errors.Is(err, errChanged) {
		t.Fatalf("a stale match: %v, want errChanged", err)
	}
	if got := client.AttackSync.GetX(ctx, row.ID); got.Status != attacksync.StatusRunning || got.BundleSha256 != "" {
		t.Errorf("after a stale match: %s %q, want still running, no hash", got.Status, got.BundleSha256)
	}
	counts, err := s.finish(ctx, j, row, nil, sum)
	if err != nil || counts != (Counts{Unchanged: 10}) {
		t.Errorf("a true match: %+v (%v), want 10 unchanged", counts, err)
	}
	if got := client.AttackSync.GetX(ctx, row.ID); got.Status != attacksync.StatusSucceeded || got.BundleSha256 != sum || got.AttackVersion != "99.1" {
		t.Errorf("after a true match: %s %q %q", got.Status, got.BundleSha256, got.AttackVersion)
	}
}
