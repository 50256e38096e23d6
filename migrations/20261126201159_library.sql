-- Modify "scenario_templates" table
ALTER TABLE "scenario_templates" ADD CONSTRAINT "ck_scenario_templates_version" CHECK (version >= 1), ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
-- Modify "test_templates" table
ALTER TABLE "test_templates" ADD CONSTRAINT "ck_test_templates_version" CHECK (version >= 1), ADD COLUMN "labels" jsonb NOT NULL DEFAULT '[]', ADD COLUMN "import_hash" character varying NOT NULL DEFAULT '', ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
