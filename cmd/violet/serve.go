package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"violet/handlers"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/i18n"
	"violet/internal/live"
	"violet/internal/migration"
	"violet/internal/seed"
	"violet/migrations"
	"violet/static"
)

// serve runs the web server until ctx is cancelled (SIGINT/SIGTERM), then
// turns readiness off and lets in-flight requests finish.
func serve(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: violet serve\n\nConfiguration comes from the environment:")
		config.Usage(fs.Output())
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	cfg, err := config.Load(e.getenv, config.ServeRequired()...)
	if err != nil {
		return fmt.Errorf("configuration:\n%w\n(violet serve -h lists every variable)", err)
	}
	log := newLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)

	db, client, err := database.Open(cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return err
	}
	defer client.Close()
	dir, err := migrations.Dir()
	if err != nil {
		return err
	}
	if cfg.MigrateOnStart {
		if _, err := migration.Apply(ctx, db, dir, log); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := seed.Ensure(ctx, client); err != nil {
			return fmt.Errorf("reference data: %w", err)
		}
	}
	store, err := openEvidence(cfg, true)
	if err != nil {
		return err
	}
	// Said now rather than at the first upload; /readyz keeps checking.
	if c, ok := store.(evidence.Checker); ok {
		if err := c.Check(ctx); err != nil {
			log.Warn("the evidence store is unusable: this instance is not ready", "err", err)
		}
	}
	catalog, err := i18n.New(cfg.DefaultLocale)
	if err != nil {
		return err
	}
	assets, err := static.New()
	if err != nil {
		return err
	}
	// The live events hub outlives ctx a little: it stops after the drain
	// delay, which ends the event streams so the shutdown can finish.
	hub := live.NewHub(db, cfg.DatabaseURL, log)
	hubCtx, stopHub := context.WithCancel(context.Background())
	defer stopHub()
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		if err := hub.Run(hubCtx); err != nil && hubCtx.Err() == nil {
			log.Error("live updates are off: the events hub could not start", "err", err)
		}
	}()
	srv, err := handlers.New(handlers.Deps{
		Config: cfg, DB: db, Ent: client, Migrations: dir,
		Catalog: catalog, Assets: assets, Log: log, Version: version, Live: hub,
		Evidence: store,
		// One budget for every image decode of the process, however many
		// uploads arrive at once.
		Decodes: evidence.NewDecodeBudget(evidence.DefaultDecodeBudget),
	})
	if err != nil {
		return err
	}
	// Jobs whose instance died (this one before a restart, or another
	// behind the same load balancer) are marked failed now and every
	// ReapInterval; jobs of live instances are left alone. This ends with ctx.
	go srv.ReapJobsEvery(ctx, handlers.ReapInterval)
	// Evidence files without a row (a crash between the rename and the
	// commit) are swept now and then; this ends with ctx.
	go srv.SweepEvidenceEvery(ctx, evidence.SweepAge)
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Headers must arrive within 10 s; a body that stalls is cut after
	// BODY_IDLE_TIMEOUT by the handler's middleware (a deadline per read,
	// so a slow upload completes); an idle keep-alive connection is
	// closed after 2 min. There is no ReadTimeout or WriteTimeout: they
	// would cut large uploads and downloads on slow links. Nor is there a
	// cap on connections per client address: behind the reverse proxy
	// Violet is meant to run behind, every connection comes from the
	// proxy's address, so the cap belongs to the proxy (nginx's
	// limit_conn); these deadlines bound how long any one is held.
	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("violet serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(),
		"version", version, "startup", time.Since(start).Round(time.Millisecond))

	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	bootstrap := startBootstrap(ctx, client, cfg.BaseURL, log)
	defer bootstrap.Wait()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: readiness off, then waiting for in-flight requests",
		"drain_delay", cfg.DrainDelay, "timeout", cfg.ShutdownTimeout)
	srv.Drain()
	// Keep serving while load balancers notice /readyz answering 503.
	select {
	case <-time.After(cfg.DrainDelay):
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	stopHub()
	<-hubDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	srv.Wait(shutdownCtx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// openEvidence builds the evidence store EVIDENCE_STORE names, once, for
// every command that reads or writes evidence (serve, backup, restore).
// With createDir the directory is created if missing (a backup does not:
// a mistyped EVIDENCE_DIR must not back up as "no evidence"); a bucket
// must exist already.
func openEvidence(cfg config.Config, createDir bool) (evidence.Store, error) {
	if cfg.EvidenceStore == "s3" {
		s, err := evidence.NewS3(evidence.S3Config{
			Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, Bucket: cfg.S3.Bucket, Prefix: cfg.S3.Prefix,
			PathStyle: cfg.S3.PathStyle, AccessKeyID: cfg.S3.AccessKeyID, SecretAccessKey: cfg.S3.SecretAccessKey,
			SessionToken: cfg.S3.SessionToken,
		})
		if err != nil {
			return nil, fmt.Errorf("evidence store: %w", err)
		}
		return s, nil
	}
	if createDir {
		if err := os.MkdirAll(cfg.EvidenceDir, 0o700); err != nil {
			return nil, fmt.Errorf("evidence directory: %w", err)
		}
	}
	return evidence.NewDir(cfg.EvidenceDir), nil
}

// newLogger builds the process logger.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
