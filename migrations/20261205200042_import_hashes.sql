-- Modify "attack_syncs" table
ALTER TABLE "attack_syncs" ADD COLUMN "bundle_sha256" character varying NOT NULL DEFAULT '';
-- Create "library_import_files" table
CREATE TABLE "library_import_files" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "sha256" character varying NOT NULL, "catalogue" character varying NOT NULL DEFAULT '', "templates" jsonb NOT NULL, "untagged" jsonb NULL, PRIMARY KEY ("id"));
-- Create index "uq_library_import_files_sha256" to table: "library_import_files"
CREATE UNIQUE INDEX "uq_library_import_files_sha256" ON "library_import_files" ("sha256");
