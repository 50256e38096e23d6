package apitoken

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/apitoken"
	"violet/ent/group"
	"violet/ent/user"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/identity"
	"violet/internal/invite"
	"violet/views/apitokens"
	"violet/views/components"
)

// A service account is a user with service_account set: it has groups
// like anyone, but no usable password (invite.UnusablePasswordHash, and
// the password sign-in refuses service accounts whatever their hash), no
// invitation, no single sign-on and no passkey: only API tokens, made for
// it by a user manager or the command line.

// AccountInput is a service account to make.
type AccountInput struct {
	DisplayName string
	Email       string   // an address that names the account; no mail is sent to it
	GroupIDs    []string // the groups it joins
}

// Message keys of the service account form (fields display_name, email,
// group_ids), beside internal/identity's.
const (
	KeyEmailTaken    = "apitoken.accounts.error.email_taken"
	KeyGroupUnknown  = "apitoken.accounts.error.group_unknown"
	KeyGroupRefused  = "apitoken.accounts.error.group_refused"
	KeyGroupRequired = "apitoken.accounts.error.group_required"
)

// mayAdminister reports whether the context may manage service accounts:
// user.manage, or the system.
func mayAdminister(ctx context.Context) bool {
	return isSystem(ctx) || auth.FromContext(ctx).Can(auth.UserManage)
}

// grantor is who grants the new account its groups.
func grantor(ctx context.Context) invite.Grantor {
	if isSystem(ctx) {
		return invite.System()
	}
	return invite.GrantorOf(auth.FromContext(ctx))
}

// CreateServiceAccount makes a service account with the groups asked for,
// each of which the viewer must be able to grant (invite.Grantor, as for
// an invitation). Audited "user.service_account_created".
func (s *Service) CreateServiceAccount(ctx context.Context, in AccountInput) (*ent.User, error) {
	if !mayAdminister(ctx) {
		return nil, app.ErrForbidden
	}
	bad := &app.Invalid{}
	name, err := identity.DisplayName(in.DisplayName)
	if err != nil {
		bad.Add("display_name", identity.NameMessageKey(err))
	}
	email, err := identity.Email(in.Email)
	if err != nil {
		bad.Add("email", identity.EmailMessageKey(err))
	}
	var ids []uuid.UUID
	for _, raw := range in.GroupIDs {
		id, err := uuid.Parse(raw)
		if err != nil {
			bad.Add("group_ids", KeyGroupUnknown)
			break
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(in.GroupIDs) == 0 {
		bad.Add("group_ids", KeyGroupRequired)
	}
	sys := rule.SystemContext(ctx)
	var out *ent.User
	err = database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		groups, err := tx.Group.Query().Where(group.IDIn(ids...)).WithPermissions().Order(ent.Asc(group.FieldName)).All(sys)
		if err != nil {
			return fmt.Errorf("read groups: %w", err)
		}
		if _, failed := bad.Fields["group_ids"]; !failed {
			g := grantor(ctx)
			switch {
			case len(groups) != len(ids):
				bad.Add("group_ids", KeyGroupUnknown)
			case slices.ContainsFunc(groups, func(grp *ent.Group) bool { return !g.MayGrant(grp) }):
				bad.Add("group_ids", KeyGroupRefused)
			}
		}
		if bad.Fields["email"] == "" || bad.Fields["display_name"] == "" {
			if err := identity.Lock(sys, tx); err != nil {
				return err
			}
			checkEmail, checkName := email, name
			if bad.Fields["email"] != "" {
				checkEmail = ""
			}
			if bad.Fields["display_name"] != "" {
				checkName = ""
			}
			clash, err := identity.Check(sys, tx.User, uuid.Nil, checkEmail, checkName)
			if err != nil {
				return err
			}
			switch clash.Email {
			case identity.Same:
				bad.Add("email", KeyEmailTaken)
			case identity.LookAlike:
				bad.Add("email", "identity.email.look_alike")
			}
			if clash.Name != identity.None {
				bad.Add("display_name", "identity.name.look_alike")
			}
		}
		if err := bad.Err(); err != nil {
			return err
		}
		u, err := tx.User.Create().SetEmail(email).SetDisplayName(name).SetLocale(user.LocaleEn).
			SetPasswordHash(invite.UnusablePasswordHash()).SetServiceAccount(true).AddGroups(groups...).Save(sys)
		if ent.IsConstraintError(err) {
			return app.Invalidf("email", KeyEmailTaken)
		}
		if err != nil {
			return fmt.Errorf("create service account: %w", err)
		}
		names := make([]string, 0, len(groups))
		for _, g := range groups {
			names = append(names, g.Name)
		}
		out = u
		return audit.Record(sys, tx.AuditEvent, audit.Event{
			Action: audit.ServiceAccountCreated, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"display_name": u.DisplayName, "groups": names},
		})
	})
	return out, err
}

// ServiceAccounts is the service accounts page: the accounts (not
// deleted) with their groups and live tokens, and the new account form.
func (s *Service) ServiceAccounts(ctx context.Context) (apitokens.AccountsPage, error) {
	if !mayAdminister(ctx) {
		return apitokens.AccountsPage{}, app.ErrForbidden
	}
	sys := rule.SystemContext(ctx)
	now := s.now()
	users, err := s.client.User.Query().Where(user.ServiceAccount(true), user.DeletedAtIsNil()).
		WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldName)) }).
		WithAPITokens(func(q *ent.APITokenQuery) { q.Where(apitoken.RevokedAtIsNil(), apitoken.ExpiresAtGT(now)) }).
		Order(ent.Asc(user.FieldDisplayName), ent.Asc(user.FieldEmail)).All(sys)
	if err != nil {
		return apitokens.AccountsPage{}, fmt.Errorf("read service accounts: %w", err)
	}
	p := apitokens.AccountsPage{Form: apitokens.AccountForm{GroupIDs: map[string]bool{}}}
	for _, u := range users {
		p.Rows = append(p.Rows, accountOf(u))
	}
	groups, err := invite.GrantableGroups(sys, s.client, grantor(ctx))
	if err != nil {
		return apitokens.AccountsPage{}, err
	}
	for _, g := range groups {
		p.Groups = append(p.Groups, apitokens.Choice{ID: g.ID.String(), Name: g.Name, Description: g.Description})
	}
	return p, nil
}

func accountOf(u *ent.User) apitokens.Account {
	a := apitokens.Account{ID: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Active: u.IsActive,
		LiveTokens: len(u.Edges.APITokens)}
	for _, g := range u.Edges.Groups {
		a.Groups = append(a.Groups, g.Name)
	}
	return a
}

// NewServiceAccount makes a service account (CreateServiceAccount) and
// returns its id, or the page again with the form as it was sent and its
// errors (and the *app.Invalid, for the status).
func (s *Service) NewServiceAccount(ctx context.Context, in AccountInput) (uuid.UUID, apitokens.AccountsPage, error) {
	u, err := s.CreateServiceAccount(ctx, in)
	if err == nil {
		return u.ID, apitokens.AccountsPage{}, nil
	}
	var bad *app.Invalid
	if !errors.As(err, &bad) {
		return uuid.Nil, apitokens.AccountsPage{}, err
	}
	p, perr := s.ServiceAccounts(ctx)
	if perr != nil {
		return uuid.Nil, p, perr
	}
	p.Form = apitokens.AccountForm{DisplayName: in.DisplayName, Email: in.Email, GroupIDs: map[string]bool{}, Errors: components.Errors{}}
	for _, id := range in.GroupIDs {
		p.Form.GroupIDs[id] = true
	}
	for f, k := range bad.Fields {
		p.Form.Errors[f] = k
	}
	return uuid.Nil, p, err
}

// ServiceAccount is a service account's page: a user that is not one is
// not found here (its own page is Administration → Users).
func (s *Service) ServiceAccount(ctx context.Context, id uuid.UUID) (apitokens.AccountPage, error) {
	if !mayAdminister(ctx) {
		return apitokens.AccountPage{}, app.ErrForbidden
	}
	sys := rule.SystemContext(ctx)
	u, err := s.client.User.Query().Where(user.ID(id), user.ServiceAccount(true), user.DeletedAtIsNil()).
		WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldName)) }).Only(sys)
	if ent.IsNotFound(err) {
		return apitokens.AccountPage{}, app.ErrNotFound
	}
	if err != nil {
		return apitokens.AccountPage{}, err
	}
	b, err := s.Block(ctx, id)
	if err != nil {
		return apitokens.AccountPage{}, err
	}
	return apitokens.AccountPage{Account: accountOf(u), Tokens: b}, nil
}
