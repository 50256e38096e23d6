// Package notify writes in-app notifications. A notification is written in
// the transaction of the change that causes it, in the recipient's
// language (its key and arguments kept to render it in the reader's
// language when read), only to recipients who have not muted its kind, and with a
// live event so the recipient's bell updates at once.
package notify

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/missionmember"
	"violet/ent/user"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/live"
	notifyviews "violet/views/notifications"
)

// Kind is what a notification is about; users mute kinds.
type Kind string

// The kinds, in the order the preferences page lists them.
const (
	MemberAdded    Kind = "mission.member_added"
	MissionStatus  Kind = "mission.status_changed"
	TestReleased   Kind = "test.released"
	TestExecuted   Kind = "test.executed"
	TestReviewed   Kind = "test.reviewed"
	SyncFinished   Kind = "attack.sync_finished"
	ImportFinished Kind = "library.import_finished"
)

// Kinds lists every kind.
func Kinds() []Kind {
	return []Kind{MemberAdded, MissionStatus, TestReleased, TestExecuted, TestReviewed, SyncFinished, ImportFinished}
}

// Valid reports whether k is a known kind.
func Valid(k string) bool { return slices.Contains(Kinds(), Kind(k)) }

// LabelKey is the i18n key naming a kind on the preferences page.
func LabelKey(k Kind) string { return "notify.kind." + string(k) }

// Key is a title argument that depends on the language (a status or role
// label): the i18n key of the label, stored as such and translated when
// the notification is read, in the reader's language then.
type Key string

// Message is one notification before it is addressed: the title is the
// i18n key TitleKey with TitleArgs (key/value pairs; Key values are
// translated, others kept as written). The key and arguments are stored
// so the title is rendered in the reader's language when read; the title
// rendered in each recipient's language when sent is stored beside them,
// the fallback should the key ever leave the catalogue.
type Message struct {
	Kind      Kind
	TitleKey  string
	TitleArgs []any
	Link      string
	MissionID uuid.UUID // for the live event; zero when not about a mission
}

// args is m's title arguments as the notification row stores them.
func (m Message) args() []map[string]string {
	out := make([]map[string]string, 0, len(m.TitleArgs)/2)
	for i := 0; i+1 < len(m.TitleArgs); i += 2 {
		name := fmt.Sprint(m.TitleArgs[i])
		if k, ok := m.TitleArgs[i+1].(Key); ok {
			out = append(out, notifyviews.KeyArg(name, string(k)))
		} else {
			out = append(out, notifyviews.TextArg(name, m.TitleArgs[i+1]))
		}
	}
	return out
}

// Notifier addresses and writes notifications.
type Notifier struct {
	catalog *i18n.Catalog
}

// New returns a notifier rendering titles with catalog.
func New(catalog *i18n.Catalog) *Notifier { return &Notifier{catalog: catalog} }

// Send writes m to each recipient (duplicates and the zero UUID ignored)
// who is active and has not muted m.Kind, in tx. It returns how many
// notifications it wrote.
func (n *Notifier) Send(ctx context.Context, tx *ent.Tx, m Message, recipients ...uuid.UUID) (int, error) {
	ids := make([]uuid.UUID, 0, len(recipients))
	for _, id := range recipients {
		if id != uuid.Nil && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	sys := rule.SystemContext(ctx)
	users, err := tx.User.Query().Where(user.IDIn(ids...), user.IsActive(true)).
		Select(user.FieldID, user.FieldLocale, user.FieldMutedNotifications).All(sys)
	if err != nil {
		return 0, fmt.Errorf("notification recipients: %w", err)
	}
	args := m.args()
	var (
		creates []*ent.NotificationCreate
		events  []live.Event
	)
	for _, u := range users {
		if slices.Contains(u.MutedNotifications, string(m.Kind)) {
			continue
		}
		title := notifyviews.RenderTitle(i18n.NewContext(ctx, n.catalog.Pick(string(u.Locale), "")), m.TitleKey, args, m.TitleKey)
		creates = append(creates, tx.Notification.Create().SetUserID(u.ID).SetKind(string(m.Kind)).
			SetTitle(truncate(title, 300)).SetTitleKey(m.TitleKey).SetTitleArgs(args).SetLink(m.Link))
		events = append(events, live.Event{Kind: live.KindNotification, UserID: u.ID, MissionID: m.MissionID})
	}
	if len(creates) == 0 {
		return 0, nil
	}
	if err := tx.Notification.CreateBulk(creates...).Exec(sys); err != nil {
		return 0, fmt.Errorf("write notifications: %w", err)
	}
	return len(creates), live.Publish(ctx, tx, events...)
}

// Members returns the members of a mission holding one of roles (all
// members when none are given), except the user except (the one acting).
func Members(ctx context.Context, tx *ent.Tx, missionID uuid.UUID, except uuid.UUID, roles ...string) ([]uuid.UUID, error) {
	q := tx.MissionMember.Query().Where(missionmember.MissionID(missionID), missionmember.UserIDNEQ(except))
	if len(roles) > 0 {
		rs := make([]missionmember.Role, len(roles))
		for i, r := range roles {
			rs[i] = missionmember.Role(r)
		}
		q.Where(missionmember.RoleIn(rs...))
	}
	members, err := q.Select(missionmember.FieldUserID).All(rule.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("mission members: %w", err)
	}
	out := make([]uuid.UUID, len(members))
	for i, m := range members {
		out[i] = m.UserID
	}
	return out, nil
}

func truncate(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}
