-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "service_account" boolean NOT NULL DEFAULT false;
-- Create "api_tokens" table
CREATE TABLE "api_tokens" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "name" character varying NOT NULL, "token_hash" character varying(64) NOT NULL, "prefix" character varying NOT NULL, "scopes" jsonb NOT NULL, "expires_at" timestamptz NOT NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "created_by_id" uuid NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "fk_api_tokens_user_id" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "ck_api_tokens_token_hash_hex" CHECK ((token_hash)::text ~ '^[0-9a-f]{64}$'::text));
-- Create index "ix_api_tokens_user_id" to table: "api_tokens"
CREATE INDEX "ix_api_tokens_user_id" ON "api_tokens" ("user_id");
-- Create index "uq_api_tokens_token_hash" to table: "api_tokens"
CREATE UNIQUE INDEX "uq_api_tokens_token_hash" ON "api_tokens" ("token_hash");
-- Modify "missions" table
ALTER TABLE "missions" ADD COLUMN "import_key" character varying NOT NULL DEFAULT '';
-- Create index "uq_missions_import_key" to table: "missions"
CREATE UNIQUE INDEX "uq_missions_import_key" ON "missions" ("import_key") WHERE (((import_key)::text <> ''::text) AND (deleted_at IS NULL));
-- Modify "mission_tests" table
ALTER TABLE "mission_tests" ADD COLUMN "target_user" character varying NOT NULL DEFAULT '', ADD COLUMN "executor" character varying NOT NULL DEFAULT '', ADD COLUMN "import_key" character varying NOT NULL DEFAULT '';
-- Create index "uq_mission_tests_import_key" to table: "mission_tests"
CREATE UNIQUE INDEX "uq_mission_tests_import_key" ON "mission_tests" ("mission_id", "import_key") WHERE (((import_key)::text <> ''::text) AND (deleted_at IS NULL));
-- Create "execution_records" table
CREATE TABLE "execution_records" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "execution_id" character varying NOT NULL, "procedure_id" character varying NOT NULL, "format" character varying NOT NULL, "imported_by_id" uuid NULL, "mission_id" uuid NOT NULL, "mission_test_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "fk_execution_records_mission_id" FOREIGN KEY ("mission_id") REFERENCES "missions" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "fk_execution_records_mission_test_id" FOREIGN KEY ("mission_test_id") REFERENCES "mission_tests" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "ix_execution_records_mission_test_id" to table: "execution_records"
CREATE INDEX "ix_execution_records_mission_test_id" ON "execution_records" ("mission_test_id");
-- Create index "uq_execution_records_mission_execution_procedure" to table: "execution_records"
CREATE UNIQUE INDEX "uq_execution_records_mission_execution_procedure" ON "execution_records" ("mission_id", "execution_id", "procedure_id");
