package migration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ariga.io/atlas/sql/migrate"
)

// revisionSchema and revisionTable name the history table the Atlas CLI uses.
const (
	revisionSchema = "atlas_schema_revisions"
	revisionTable  = "atlas_schema_revisions"
	qualifiedTable = `"atlas_schema_revisions"."atlas_schema_revisions"`
)

// createRevisionTable is the CLI's own DDL for its history table.
const createRevisionTable = `
CREATE SCHEMA IF NOT EXISTS "atlas_schema_revisions";
CREATE TABLE IF NOT EXISTS "atlas_schema_revisions"."atlas_schema_revisions" (
	"version" character varying NOT NULL,
	"description" character varying NOT NULL,
	"type" bigint NOT NULL DEFAULT 2,
	"applied" bigint NOT NULL DEFAULT 0,
	"total" bigint NOT NULL DEFAULT 0,
	"executed_at" timestamptz NOT NULL,
	"execution_time" bigint NOT NULL,
	"error" text NULL,
	"error_stmt" text NULL,
	"hash" character varying NOT NULL,
	"partial_hashes" jsonb NULL,
	"operator_version" character varying NOT NULL,
	PRIMARY KEY ("version")
)`

// querier is what the revision store needs: a *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// revisions implements migrate.RevisionReadWriter on the CLI's table.
type revisions struct{ q querier }

var _ migrate.RevisionReadWriter = revisions{}

// Ident tells the executor which table to ignore when checking that a
// database is clean.
func (revisions) Ident() *migrate.TableIdent {
	return &migrate.TableIdent{Name: revisionTable, Schema: revisionSchema}
}

const selectRevision = `SELECT version, description, type, applied, total, executed_at,
	execution_time, COALESCE(error, ''), COALESCE(error_stmt, ''), hash,
	COALESCE(partial_hashes, '[]'::jsonb), operator_version
	FROM ` + qualifiedTable

// ReadRevisions returns every revision ordered by version. A database where
// the table does not exist yet has no revisions.
func (r revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	exists, err := tableExists(ctx, r.q)
	if err != nil || !exists {
		return nil, err
	}
	rows, err := r.q.QueryContext(ctx, selectRevision+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		revs = append(revs, rev)
	}
	return revs, rows.Err()
}

// ReadRevision returns one revision or migrate.ErrRevisionNotExist.
func (r revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, selectRevision+` WHERE version = $1`, version)
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", version, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, migrate.ErrRevisionNotExist
	}
	return scanRevision(rows)
}

// WriteRevision inserts or updates a revision.
func (r revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	partial, err := json.Marshal(rev.PartialHashes)
	if err != nil {
		return err
	}
	_, err = r.q.ExecContext(ctx, `INSERT INTO `+qualifiedTable+` AS r
		(version, description, type, applied, total, executed_at, execution_time,
		 error, error_stmt, hash, partial_hashes, operator_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), NULLIF($9, ''), $10, $11, $12)
		ON CONFLICT (version) DO UPDATE SET
		 description = EXCLUDED.description, type = EXCLUDED.type, applied = EXCLUDED.applied,
		 total = EXCLUDED.total, executed_at = EXCLUDED.executed_at,
		 execution_time = EXCLUDED.execution_time, error = EXCLUDED.error,
		 error_stmt = EXCLUDED.error_stmt, hash = EXCLUDED.hash,
		 partial_hashes = EXCLUDED.partial_hashes, operator_version = EXCLUDED.operator_version`,
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total, rev.ExecutedAt,
		int64(rev.ExecutionTime), rev.Error, rev.ErrorStmt, rev.Hash, partial, rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("write revision %s: %w", rev.Version, err)
	}
	return nil
}

// DeleteRevision removes a revision.
func (r revisions) DeleteRevision(ctx context.Context, version string) error {
	if _, err := r.q.ExecContext(ctx, `DELETE FROM `+qualifiedTable+` WHERE version = $1`, version); err != nil {
		return fmt.Errorf("delete revision %s: %w", version, err)
	}
	return nil
}

func scanRevision(rows *sql.Rows) (*migrate.Revision, error) {
	var (
		rev     migrate.Revision
		typ     int64
		execNs  int64
		partial []byte
	)
	if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total,
		&rev.ExecutedAt, &execNs, &rev.Error, &rev.ErrorStmt, &rev.Hash, &partial,
		&rev.OperatorVersion); err != nil {
		return nil, fmt.Errorf("scan revision: %w", err)
	}
	rev.Type = migrate.RevisionType(typ)
	rev.ExecutionTime = time.Duration(execNs)
	if err := json.Unmarshal(partial, &rev.PartialHashes); err != nil {
		return nil, fmt.Errorf("revision %s: partial hashes: %w", rev.Version, err)
	}
	return &rev, nil
}

func tableExists(ctx context.Context, q querier) (bool, error) {
	var name sql.NullString
	err := q.QueryRowContext(ctx, `SELECT to_regclass($1)::text`, qualifiedTable).Scan(&name)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("look up revision table: %w", err)
	}
	return name.Valid, nil
}
