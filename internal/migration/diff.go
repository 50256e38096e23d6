package migration

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "violet/ent/migrate"
)

// Diff writes a migration file named name into dir for whatever the ent
// schema has that the files in dir do not, replaying dir on the empty dev
// database at devURL. It reports whether a file was written; with no schema
// change it writes nothing.
func Diff(ctx context.Context, devURL string, dir migrate.Dir, name string) (bool, error) {
	devURL, err := schemaScoped(devURL)
	if err != nil {
		return false, err
	}
	err = entmigrate.NamedDiff(ctx, devURL, name,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(migrate.DefaultFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithErrNoPlan(true),
	)
	if errors.Is(err, migrate.ErrNoPlan) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("diff: %w", err)
	}
	return true, nil
}

// CheckDrift fails when the ent schema and the migrations in dir disagree,
// that is when Diff would write a file. It works on an in-memory copy, so
// dir is never touched.
func CheckDrift(ctx context.Context, devURL string, dir migrate.Dir) error {
	files, err := dir.Files()
	if err != nil {
		return err
	}
	scratch := &migrate.MemDir{}
	for _, f := range files {
		if err := scratch.WriteFile(f.Name(), f.Bytes()); err != nil {
			return err
		}
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	if err := migrate.WriteSumFile(scratch, sum); err != nil {
		return err
	}
	wrote, err := Diff(ctx, devURL, scratch, "drift")
	if err != nil {
		return err
	}
	if wrote {
		return errors.New("the ent schema and the migrations disagree: run `make migrate-diff NAME=<change>` and commit the new file")
	}
	return nil
}

// schemaScoped pins the dev URL to the public schema so that the generated
// statements carry no schema qualifier and apply to whatever schema the
// target connection uses.
func schemaScoped(devURL string) (string, error) {
	u, err := url.Parse(devURL)
	if err != nil {
		return "", fmt.Errorf("parse dev URL: %w", err)
	}
	q := u.Query()
	if q.Get("search_path") == "" {
		q.Set("search_path", "public")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
