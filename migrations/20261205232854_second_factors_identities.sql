-- Modify "groups" table
ALTER TABLE "groups" ADD COLUMN "require_second_factor" boolean NOT NULL DEFAULT false;
-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" ADD COLUMN "method" character varying NOT NULL DEFAULT 'password';
-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "break_glass" boolean NOT NULL DEFAULT false;
-- Create "recovery_codes" table
CREATE TABLE "recovery_codes" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "code_hash" character varying(64) NOT NULL, "used_at" timestamptz NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "fk_recovery_codes_user_id" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "ck_recovery_codes_code_hash_hex" CHECK ((code_hash)::text ~ '^[0-9a-f]{64}$'::text));
-- Create index "uq_recovery_codes_user_id_code_hash" to table: "recovery_codes"
CREATE UNIQUE INDEX "uq_recovery_codes_user_id_code_hash" ON "recovery_codes" ("user_id", "code_hash");
-- Create "user_identities" table
CREATE TABLE "user_identities" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "provider" character varying NOT NULL, "issuer" character varying NOT NULL, "subject" character varying NOT NULL, "email" character varying NOT NULL DEFAULT '', "last_login_at" timestamptz NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "fk_user_identities_user_id" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "ix_user_identities_user_id" to table: "user_identities"
CREATE INDEX "ix_user_identities_user_id" ON "user_identities" ("user_id");
-- Create index "uq_user_identities_issuer_subject" to table: "user_identities"
CREATE UNIQUE INDEX "uq_user_identities_issuer_subject" ON "user_identities" ("issuer", "subject");
-- Create "user_totps" table
CREATE TABLE "user_totps" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "secret" text NOT NULL, "confirmed_at" timestamptz NULL, "last_step" bigint NOT NULL DEFAULT 0, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "fk_user_totps_user_id" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "uq_user_totps_user_id" to table: "user_totps"
CREATE UNIQUE INDEX "uq_user_totps_user_id" ON "user_totps" ("user_id");
