-- Create "saml_assertions" table
CREATE TABLE "saml_assertions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "provider" character varying NOT NULL, "assertion_id" character varying NOT NULL, "expires_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- Create index "ix_saml_assertions_expires_at" to table: "saml_assertions"
CREATE INDEX "ix_saml_assertions_expires_at" ON "saml_assertions" ("expires_at");
-- Create index "uq_saml_assertions_provider_assertion_id" to table: "saml_assertions"
CREATE UNIQUE INDEX "uq_saml_assertions_provider_assertion_id" ON "saml_assertions" ("provider", "assertion_id");
-- Create "sign_in_providers" table
CREATE TABLE "sign_in_providers" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "updated_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "key" character varying NOT NULL, "kind" character varying NOT NULL, "name" character varying NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "settings" jsonb NOT NULL, "secret" text NULL, PRIMARY KEY ("id"), CONSTRAINT "ck_sign_in_providers_key" CHECK ((key)::text ~ '^[a-z0-9][a-z0-9_-]{0,31}$'::text), CONSTRAINT "ck_sign_in_providers_kind" CHECK ((kind)::text = ANY ((ARRAY['oidc'::character varying, 'saml'::character varying])::text[])));
-- Create index "uq_sign_in_providers_key" to table: "sign_in_providers"
CREATE UNIQUE INDEX "uq_sign_in_providers_key" ON "sign_in_providers" ("key");
