package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/user"
	"violet/internal/account"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
)

// BeginRegistration re-authenticates the viewer (as for the app:
// account.Reauth) and starts registering a passkey named name: it returns
// the options for navigator.credentials.create and the ceremony's cookie.
// The passkey must be discoverable (a resident key) and verify the user;
// the viewer's passkeys are excluded (an authenticator holds one).
func (s *Service) BeginRegistration(ctx context.Context, in account.Reauth, name string) ([]byte, *http.Cookie, error) {
	name, err := checkName(name)
	if err != nil {
		return nil, nil, err
	}
	var w waUser
	if err := s.accounts.Reauthenticated(ctx, in, func(tx *ent.Tx, u *ent.User) error {
		_, rows, err := loadUser(ctx, tx.Client(), u.ID)
		w = adapter(u, rows)
		return err
	}); err != nil {
		return nil, nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	yes := true
	opts, sd, err := s.wa.BeginRegistration(w,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &yes, ResidentKey: protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	ck, err := s.begin(kindRegister, sd, w.u.ID, name, "")
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(opts)
	return body, ck, err
}

// FinishRegistration stores the passkey the browser created (body, the
// PublicKeyCredential as JSON) for the ceremony of cookie, begun by the
// viewer; current is the request's session: one opened only to enrol
// (password:enrol, oidc:<key>:enrol) becomes a full one, as with the app.
// factor.passkey_added is recorded in the same transaction.
func (s *Service) FinishRegistration(ctx context.Context, cookie string, body io.Reader, current uuid.UUID) error {
	v := auth.FromContext(ctx)
	c, err := s.open(cookie, kindRegister)
	if err != nil || c.U != v.UserID {
		return ErrCeremony
	}
	sd, err := c.session()
	if err != nil {
		return ErrCeremony
	}
	sys := rule.SystemContext(ctx)
	if spent, err := s.spent(sys, s.db, audit.FactorPasskeyAdded, c); err != nil || spent {
		if err == nil {
			err = ErrCeremony
		}
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return &app.Invalid{Key: "passkeys.add.failed"}
	}
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		// The user's row first: two finishes of one ceremony take turns,
		// and the second finds it spent.
		u, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(sys)
		if err != nil {
			return fmt.Errorf("passkey: load account: %w", err)
		}
		if spent, err := s.spent(ctx, tx, audit.FactorPasskeyAdded, c); err != nil || spent {
			if err == nil {
				err = ErrCeremony
			}
			return err
		}
		_, rows, err := loadUser(ctx, tx.Client(), u.ID)
		if err != nil {
			return err
		}
		cred, err := s.wa.CreateCredential(adapter(u, rows), sd, parsed)
		if err != nil || !cred.Flags.UserVerified {
			return &app.Invalid{Key: "passkeys.add.failed"}
		}
		for _, r := range rows {
			if sameBytes(r.CredentialID, cred.ID) {
				return &app.Invalid{Key: "passkeys.add.exists"}
			}
		}
		create := tx.WebAuthnCredential.Create().SetUserID(u.ID).SetName(c.N).
			SetCredentialID(cred.ID).SetPublicKey(cred.PublicKey).SetAttestationType(cred.AttestationType).
			SetSignCount(int64(cred.Authenticator.SignCount)).SetUserVerified(cred.Flags.UserVerified).
			SetBackupEligible(cred.Flags.BackupEligible).SetBackupState(cred.Flags.BackupState)
		if len(cred.Authenticator.AAGUID) > 0 {
			create.SetAaguid(cred.Authenticator.AAGUID)
		}
		transports := []string{}
		for _, t := range cred.Transport {
			transports = append(transports, string(t))
		}
		row, err := create.SetTransports(transports).Save(sys)
		if ent.IsConstraintError(err) {
			// Registered by someone else's account: an authenticator's
			// credential id is unique.
			return &app.Invalid{Key: "passkeys.add.exists"}
		}
		if err != nil {
			return fmt.Errorf("passkey: store: %w", err)
		}
		// As for the app: an enrolment-only session becomes a full one,
		// and the other sessions end.
		ended, err := s.accounts.FactorAdded(ctx, tx, current, Kind)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.AuditEvent, audit.Event{
			Action: audit.FactorPasskeyAdded, TargetType: "user", TargetID: u.ID.String(), TargetLabel: u.Email,
			Details: map[string]any{"passkey": row.ID.String(), "name": row.Name, "backup_eligible": row.BackupEligible,
				"ceremony": c.spentHash(), "sessions_ended": ended},
		})
	})
	if errors.Is(err, ErrCeremony) {
		return ErrCeremony
	}
	return err
}
