package schema

import (
	"time"
	"violet/internal/auth/rule"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// LiveEvent is one change pushed to open pages (internal/live). Its id is
// the Server-Sent Events id: ids grow in commit order (writers take an
// advisory lock before inserting), so a client that reconnects with
// Last-Event-ID N misses nothing by reading the events after N. The
// table is a short log, pruned after a day; it has no foreign keys since
// it outlives nothing and is only ever read by id.
type LiveEvent struct{ ent.Schema }

// liveKinds are the kinds of change (internal/live).
var liveKinds = []string{"test", "plan", "mission", "members", "notification"}

// Annotations of the LiveEvent.
func (LiveEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("live_events"),
		entsql.Checks(map[string]string{"ck_live_events_kind": inList("kind", liveKinds...)}),
	}
}

// Policy of the LiveEvent: the feed is written and read by internal/live
// in SQL, never by a viewer through ent.
func (LiveEvent) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Fields of the LiveEvent.
func (LiveEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entsql.Default("CURRENT_TIMESTAMP")),
		field.Enum("kind").Values(liveKinds...).Immutable(),
		field.UUID("mission_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.UUID("test_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.UUID("user_id", uuid.UUID{}).Optional().Nillable().Immutable().
			Comment("the recipient of a notification event"),
		field.UUID("actor_id", uuid.UUID{}).Optional().Nillable().Immutable().
			Comment("who made the change, so their own page can skip the echo"),
		field.Bool("released").Default(false).Immutable().
			Comment("a test event: whether the test was released to blue after the change"),
	}
}

// Indexes of the LiveEvent.
func (LiveEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at").StorageKey("ix_live_events_created_at"),
	}
}
