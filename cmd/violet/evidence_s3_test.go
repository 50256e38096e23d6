package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"violet/internal/backup"
	"violet/internal/config"
	"violet/internal/evidence"
	"violet/internal/evidence/storetest"
	"violet/internal/testkit/apptest"
	"violet/internal/testkit/testdb"
)

// s3Env is the environment of the S3 store cfg describes.
func s3Env(cfg evidence.S3Config) map[string]string {
	return map[string]string{
		"EVIDENCE_STORE": "s3", "S3_BUCKET": cfg.Bucket, "S3_ENDPOINT": cfg.Endpoint, "S3_REGION": cfg.Region,
		"S3_PATH_STYLE": "true", "AWS_ACCESS_KEY_ID": cfg.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cfg.SecretAccessKey,
	}
}

// TestServeS3 starts `violet serve` with the S3 store and no EVIDENCE_DIR:
// it becomes ready, and stops being so when the service goes away.
func TestServeS3(t *testing.T) {
	cfg, srv := storetest.FakeS3(t, nil)
	env := s3Env(cfg)
	addr := freeAddr(t)
	env["DATABASE_URL"], env["SESSION_KEY"], env["LISTEN_ADDR"], env["LOG_LEVEL"] = testdb.URL(t), sessionKey(t), addr, "warn"
	s := startServe(t, env)
	client := newClient()
	s.waitFor(t, client, "/readyz", 10*time.Second)
	srv.Close()
	resp, err := client.Get(s.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"evidence":"unusable"`) {
		t.Errorf("readyz with the S3 service down = %d %s, want 503 with evidence unusable", resp.StatusCode, body)
	}
	if err := s.stop(t, 10*time.Second); err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestBackupRestoreIntoS3 moves an instance from the directory store to
// S3 the documented way: back up, restore with EVIDENCE_STORE=s3, serve
// from the bucket; then backs up from the bucket.
func TestBackupRestoreIntoS3(t *testing.T) {
	w := newDrillWorld(t)
	dir := filepath.Join(t.TempDir(), "backup")
	if _, stderr, err := runCmd(t, w.env(), "backup", dir); err != nil {
		t.Fatalf("violet backup: %v\n%s", err, stderr)
	}

	cfg, _ := storetest.FakeS3(t, nil)
	env := s3Env(cfg)
	env["DATABASE_URL"] = testdb.EmptyURL(t)
	stdout, stderr, err := runCmd(t, env, "restore", dir)
	if err != nil {
		t.Fatalf("violet restore into S3: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "3 evidence objects") || !strings.Contains(stdout, "Every evidence file matches its SHA-256") {
		t.Errorf("restore summary:\n%s", stdout)
	}

	store, err := evidence.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := apptest.New(t, apptest.WithDatabaseURL(env["DATABASE_URL"]), apptest.WithEvidence(store),
		apptest.WithConfig(func(c *config.Config) { c.EvidenceDir = filepath.Join(t.TempDir(), "unused") }))
	cookie := app.Login(t, drillEmail, apptest.Password)
	for _, row := range w.rows {
		res := app.GetAs(cookie, w.testURL("evidence/"+row.ID.String()))
		if res.Code != http.StatusOK || !bytes.Equal(res.Body.Bytes(), w.files[row.OriginalName]) {
			t.Errorf("download of %s from S3: %d, %d bytes, want the %d original bytes",
				row.OriginalName, res.Code, res.Body.Len(), len(w.files[row.OriginalName]))
		}
	}

	again := filepath.Join(t.TempDir(), "from-s3")
	if stdout, stderr, err = runCmd(t, env, "backup", again); err != nil {
		t.Fatalf("violet backup from S3: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "3 evidence objects") {
		t.Errorf("backup from S3 summary:\n%s", stdout)
	}
	if _, err := backup.Verify(again); err != nil {
		t.Errorf("the backup from S3 does not verify: %v", err)
	}
	var n int
	if err := store.List(context.Background(), func(evidence.Object) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("the bucket holds %d objects (%v), want 3", n, err)
	}
}
