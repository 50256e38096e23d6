package apitoken

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/app"
	"violet/internal/auth"
	"violet/views/apitokens"
	"violet/views/components"
)

// The read models of the tokens block (views/apitokens): on the account
// page the viewer's own tokens (owner uuid.Nil), on a service account's
// page that account's.

// defaultForm is the create form before anything is typed: read-only,
// ninety days.
func defaultForm() apitokens.Form {
	return apitokens.Form{Scopes: map[string]bool{ScopeRead: true}, ExpiresIn: "90d"}
}

// ownerOf is the owner uuid.Nil stands for: the viewer.
func ownerOf(ctx context.Context, owner uuid.UUID) (uuid.UUID, error) {
	if owner != uuid.Nil {
		return owner, nil
	}
	v := auth.FromContext(ctx)
	if v == nil {
		return uuid.Nil, app.ErrForbidden
	}
	return v.UserID, nil
}

// Block is the tokens block of owner (uuid.Nil: the viewer's own) with
// an empty form.
func (s *Service) Block(ctx context.Context, owner uuid.UUID) (apitokens.Block, error) {
	id, err := ownerOf(ctx, owner)
	if err != nil {
		return apitokens.Block{}, err
	}
	rows, err := s.List(ctx, id)
	if err != nil {
		return apitokens.Block{}, err
	}
	b := apitokens.Block{Form: defaultForm(), ScopeChoices: Scopes(), ExpiryChoices: ExpiryChoices(), Editable: true}
	if owner != uuid.Nil {
		b.Owner = owner.String()
	}
	now := s.now()
	for _, r := range rows {
		b.Rows = append(b.Rows, rowOf(r, now))
	}
	return b, nil
}

func rowOf(r *ent.APIToken, now time.Time) apitokens.Row {
	return apitokens.Row{
		ID: r.ID.String(), Name: r.Name, Prefix: r.Prefix, Scopes: r.Scopes,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt,
		Expired: !now.Before(r.ExpiresAt),
	}
}

// MakeToken makes a token for owner (uuid.Nil: the viewer, by Create;
// else a service account, by CreateFor) and returns the block to show:
// the new token shown once, or the form as it was sent with its errors
// (and the *app.Invalid, for the status).
func (s *Service) MakeToken(ctx context.Context, owner uuid.UUID, in Input) (apitokens.Block, error) {
	var (
		made Created
		err  error
	)
	if owner == uuid.Nil {
		made, err = s.Create(ctx, in)
	} else {
		made, err = s.CreateFor(ctx, owner, in)
	}
	var bad *app.Invalid
	if err != nil && !errors.As(err, &bad) {
		return apitokens.Block{}, err
	}
	b, berr := s.Block(ctx, owner)
	if berr != nil {
		return apitokens.Block{}, berr
	}
	if bad != nil {
		f := apitokens.Form{Name: in.Name, Scopes: map[string]bool{}, ExpiresIn: in.ExpiresIn, Errors: components.Errors{}}
		for _, sc := range in.Scopes {
			f.Scopes[sc] = true
		}
		for field, key := range bad.Fields {
			f.Errors[field] = key
		}
		b.Form = f
		return b, err
	}
	b.Created = &apitokens.Shown{Token: made.Token, Name: made.Row.Name}
	return b, nil
}

// RevokeToken revokes a token of owner (uuid.Nil: the viewer) and returns
// the block to show. A token of someone else is not found, even to a
// user manager asking through another owner's page.
func (s *Service) RevokeToken(ctx context.Context, owner, tokenID uuid.UUID) (apitokens.Block, error) {
	id, err := ownerOf(ctx, owner)
	if err != nil {
		return apitokens.Block{}, err
	}
	if !mayManage(ctx, id) {
		return apitokens.Block{}, app.ErrNotFound
	}
	if err := s.revoke(ctx, tokenID, id); err != nil {
		return apitokens.Block{}, err
	}
	b, err := s.Block(ctx, owner)
	b.Notice = "apitoken.revoked"
	return b, err
}
