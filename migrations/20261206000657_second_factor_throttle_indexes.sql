-- Create index "ix_audit_events_second_factor_failed_email" to table: "audit_events"
CREATE INDEX "ix_audit_events_second_factor_failed_email" ON "audit_events" ("target_label", "created_at") WHERE ((action)::text = 'login.second_factor_failed'::text);
-- Create index "ix_audit_events_second_factor_failed_ip" to table: "audit_events"
CREATE INDEX "ix_audit_events_second_factor_failed_ip" ON "audit_events" ("ip", "created_at") WHERE ((action)::text = 'login.second_factor_failed'::text);
