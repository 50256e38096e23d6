-- Create "audit_events" table
CREATE TABLE "audit_events" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "actor_id" uuid NULL, "actor_label" character varying NOT NULL DEFAULT '', "action" character varying NOT NULL, "target_type" character varying NOT NULL DEFAULT '', "target_id" character varying NOT NULL DEFAULT '', "target_label" character varying NOT NULL DEFAULT '', "ip" character varying NOT NULL DEFAULT '', "request_id" character varying NOT NULL DEFAULT '', "details" jsonb NULL, PRIMARY KEY ("id"));
-- Create index "ix_audit_events_action_created_at" to table: "audit_events"
CREATE INDEX "ix_audit_events_action_created_at" ON "audit_events" ("action", "created_at");
-- Create index "ix_audit_events_actor_id_created_at" to table: "audit_events"
CREATE INDEX "ix_audit_events_actor_id_created_at" ON "audit_events" ("actor_id", "created_at");
-- Create index "ix_audit_events_created_at" to table: "audit_events"
CREATE INDEX "ix_audit_events_created_at" ON "audit_events" ("created_at");
-- Create index "ix_audit_events_login_failed_email" to table: "audit_events"
CREATE INDEX "ix_audit_events_login_failed_email" ON "audit_events" ("target_label", "created_at") WHERE ((action)::text = 'login.failed'::text);
-- Create index "ix_audit_events_login_failed_ip" to table: "audit_events"
CREATE INDEX "ix_audit_events_login_failed_ip" ON "audit_events" ("ip", "created_at") WHERE ((action)::text = 'login.failed'::text);
-- Keep the audit log append-only whoever connects (written by hand: ent
-- has no triggers). UPDATE, DELETE and TRUNCATE are refused.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- Create trigger "audit_events_no_update_delete" on "audit_events"
CREATE TRIGGER "audit_events_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_events" FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();
-- Create trigger "audit_events_no_truncate" on "audit_events"
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events" FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();
