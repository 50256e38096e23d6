package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"violet/internal/evidence"
	"violet/internal/evidence/imagetest"
)

// TestIngestRefuses16BitGiant is issue 16's image: a 311 KB 16-bit RGBA
// PNG of 12000 × 3333 is within the pixel caps but decodes to 320 MB,
// more than the whole decode budget. It is refused as such before a byte
// is stored or decoded.
func TestIngestRefuses16BitGiant(t *testing.T) {
	giant := imagetest.PNG16(12000, 3333)
	t.Logf("the PNG is %d KB", len(giant)>>10)
	dir := t.TempDir()
	budget := evidence.NewDecodeBudget(evidence.DefaultDecodeBudget)
	_, err := evidence.Ingest(context.Background(), evidence.NewDir(dir), "wide.png", bytes.NewReader(giant),
		evidence.Limits{MaxBytes: 10 << 20, Decodes: budget})
	var refusal *evidence.Refusal
	if !errors.As(err, &refusal) || refusal.Reason != evidence.ReasonMemory {
		t.Fatalf("Ingest = %v, want a refusal for %s", err, evidence.ReasonMemory)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("the store kept %v", got)
	}
	if budget.Peak() != 0 {
		t.Errorf("the budget was taken (%d bytes): the image was decoded", budget.Peak())
	}
}

// heapSampler records the most heap in use while it runs.
type heapSampler struct {
	mu   sync.Mutex
	peak uint64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var m runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			s.mu.Lock()
			s.peak = max(s.peak, m.HeapInuse)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// TestIngestDecodesShareBudget: eight 16-bit images decoded at once take
// their memory from one budget that fits two of them: the budget never
// holds more than its size (the semaphore's own count says so), every
// image gets its preview, and the heap grows by the budget, not by eight
// images.
func TestIngestDecodesShareBudget(t *testing.T) {
	const n, w, h = 8, 2000, 1500 // 24 MB each decoded (8 B/px), 39 MB with the preview
	img := imagetest.PNG16(w, h)
	budget := evidence.NewDecodeBudget(80 << 20)
	store := evidence.NewDir(t.TempDir())
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	heap := sampleHeap()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			st, err := evidence.Ingest(context.Background(), store, "wide.png", bytes.NewReader(img),
				// The test is about memory, not waiting: on a busy machine
				// (-race, another build beside it) four rounds of decodes
				// may take longer than a request's wait.
				evidence.Limits{MaxBytes: 10 << 20, Decodes: budget, DecodeWait: 10 * time.Minute})
			if err == nil && st.PreviewKey == "" {
				err = errors.New("no preview")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	peakHeap := heap.Stop()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	if budget.Peak() > budget.Size() {
		t.Errorf("the decodes held %d bytes at once, over the budget of %d", budget.Peak(), budget.Size())
	}
	if budget.Peak() < 24<<20 {
		t.Errorf("the decodes held at most %d bytes: the cost does not count 8 B a pixel", budget.Peak())
	}
	if budget.Held() != 0 {
		t.Errorf("%d bytes still held after every decode ended", budget.Held())
	}
	growth := int64(peakHeap) - int64(base.HeapInuse)
	t.Logf("%d decodes of %d × %d 16-bit at once: budget peak %.1f MB of %.1f MB; heap %.1f MB before, peak +%.1f MB",
		n, w, h, float64(budget.Peak())/(1<<20), float64(budget.Size())/(1<<20),
		float64(base.HeapInuse)/(1<<20), float64(growth)/(1<<20))
	// Eight decodes at once would be 8 × 39 MB = 315 MB; the budget keeps
	// it to 80 MB and some garbage the collector had not yet reclaimed.
	if growth > 120<<20 {
		t.Errorf("the heap grew by %.1f MB; the budget is %.1f MB", float64(growth)/(1<<20), float64(budget.Size())/(1<<20))
	}
}

// blockingStore holds every Open until release is closed, with opened
// told each time.
type blockingStore struct {
	evidence.Store
	opened  chan struct{}
	release chan struct{}
}

func (b *blockingStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b.opened <- struct{}{}
	<-b.release
	return b.Store.Open(ctx, key)
}

// TestIngestDecodeWaitsThenBusy: a decode that cannot get its memory
// waits for it, and past DecodeWait the file is refused as busy (nothing
// kept); once the memory is back the same file is accepted.
func TestIngestDecodeWaitsThenBusy(t *testing.T) {
	img := pngBytes(t, 400, 300)
	dir := t.TempDir()
	store := &blockingStore{Store: evidence.NewDir(dir), opened: make(chan struct{}, 4), release: make(chan struct{})}
	budget := evidence.NewDecodeBudget(2 << 20) // one 400 × 300 decode (~1.5 MB) at a time
	lim := evidence.Limits{MaxBytes: 1 << 20, Decodes: budget, DecodeWait: 200 * time.Millisecond}
	first := make(chan error, 1)
	go func() {
		_, err := evidence.Ingest(context.Background(), store, "a.png", bytes.NewReader(img), lim)
		first <- err
	}()
	<-store.opened // the first decode holds its memory
	start := time.Now()
	_, err := evidence.Ingest(context.Background(), store, "b.png", bytes.NewReader(img), lim)
	var refusal *evidence.Refusal
	if !errors.As(err, &refusal) || refusal.Reason != evidence.ReasonBusy {
		t.Fatalf("second Ingest = %v, want a refusal for %s", err, evidence.ReasonBusy)
	}
	if waited := time.Since(start); waited < lim.DecodeWait {
		t.Errorf("refused after %v, before DecodeWait", waited)
	}
	close(store.release)
	if err := <-first; err != nil {
		t.Fatalf("first Ingest: %v", err)
	}
	if got := files(t, dir); len(got) != 2 { // a.png and its preview
		t.Errorf("the store holds %v, want the first file and its preview", got)
	}
	if _, err := evidence.Ingest(context.Background(), store, "b.png", bytes.NewReader(img), lim); err != nil {
		t.Errorf("with the memory back: %v", err)
	}
}
