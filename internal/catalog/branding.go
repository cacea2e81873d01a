package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// BrandingPolicy is the store's branding policy (StoreConfig).
func (s *Store) BrandingPolicy() branding.Policy { return s.brandPolicy }

func toBranding(b Branding) branding.Branding {
	return branding.Branding{DisplayName: b.DisplayName, LogoURL: b.LogoURL, FaviconURL: b.FaviconURL,
		PrimaryColor: b.PrimaryColor, SecondaryColor: b.SecondaryColor, AccentColor: b.AccentColor,
		FontFamily: b.FontFamily, CustomCSS: b.CustomCSS, SupportEmail: b.SupportEmail, SupportURL: b.SupportURL,
		TermsURL: b.TermsURL, PrivacyURL: b.PrivacyURL, FromName: b.FromName}
}

// FromRender is the catalog's Branding of r, with the fields
// internal/branding does not hold: the sender address and the version.
func FromRender(r branding.Branding, fromEmail string, version int64) Branding {
	return Branding{DisplayName: r.DisplayName, LogoURL: r.LogoURL, FaviconURL: r.FaviconURL,
		PrimaryColor: r.PrimaryColor, SecondaryColor: r.SecondaryColor, AccentColor: r.AccentColor,
		FontFamily: r.FontFamily, CustomCSS: r.CustomCSS, SupportEmail: r.SupportEmail,
		SupportURL: r.SupportURL, TermsURL: r.TermsURL, PrivacyURL: r.PrivacyURL, FromName: r.FromName,
		FromEmail: fromEmail, Version: version}
}

// Render is b as internal/branding renders it.
func (b Branding) Render() branding.Branding { return toBranding(b) }

func brandingFromRow(r catalogdb.TenantkitBranding) Branding {
	return Branding{DisplayName: r.DisplayName, LogoURL: r.LogoURL, FaviconURL: r.FaviconUrl, PrimaryColor: r.PrimaryColor,
		SecondaryColor: r.SecondaryColor, AccentColor: r.AccentColor, FontFamily: r.FontFamily, CustomCSS: r.CustomCss,
		SupportEmail: r.SupportEmail, FromName: r.FromName, FromEmail: r.FromEmail, SupportURL: r.SupportURL,
		TermsURL: r.TermsUrl, PrivacyURL: r.PrivacyUrl, Version: r.Version}
}

// validateBranding checks b against the policy and returns it in canonical
// form (colours, quoted fonts, sanitized custom CSS), or a
// *ValidationError naming every refused field.
func (s *Store) validateBranding(b Branding) (Branding, error) {
	norm, errs := toBranding(b).Normalize(s.brandPolicy)
	var fe []FieldError
	for _, e := range errs {
		fe = append(fe, FieldError{Field: e.Field, Message: e.Message})
	}
	if from := strings.TrimSpace(b.FromEmail); from != "" {
		if a, err := mail.ParseAddress(from); err != nil || a.Address != from || a.Name != "" {
			fe = append(fe, FieldError{Field: "from_email", Message: "must be a bare email address"})
		}
	}
	if len(fe) > 0 {
		return Branding{}, &ValidationError{Fields: fe}
	}
	return FromRender(norm, strings.TrimSpace(b.FromEmail), 0), nil
}

// GetBranding returns a tenant's branding; Version 0 when it was never
// written.
func (s *Store) GetBranding(ctx context.Context, ref string) (Branding, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return Branding{}, err
	}
	r, err := s.q.GetBranding(ctx, t.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Branding{}, nil
	}
	if err != nil {
		return Branding{}, err
	}
	return brandingFromRow(r), nil
}

// ReplaceBranding validates b and replaces the tenant's branding with it,
// in canonical form. With ifVersion, only when the stored version is that
// one (0: never written); otherwise ErrVersionMismatch and nothing is
// written. It returns what was stored, with its new version.
func (s *Store) ReplaceBranding(ctx context.Context, actor, ref string, b Branding, ifVersion *int64) (Branding, error) {
	clean, err := s.validateBranding(b)
	if err != nil {
		return Branding{}, err
	}
	var out Branding
	err = s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		before, err := q.GetBranding(ctx, t.ID)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, err
		}
		var cond pgtype.Int8
		if ifVersion != nil {
			if *ifVersion == 0 && exists || *ifVersion != 0 && (!exists || before.Version != *ifVersion) {
				have := int64(0)
				if exists {
					have = before.Version
				}
				return bus.Message{}, fmt.Errorf("%w: the branding is at version %d, not %d", ErrVersionMismatch, have, *ifVersion)
			}
			cond = pgtype.Int8{Int64: *ifVersion, Valid: *ifVersion != 0}
		}
		row, err := q.UpsertBranding(ctx, catalogdb.UpsertBrandingParams{
			TenantID: t.ID, DisplayName: clean.DisplayName, LogoURL: clean.LogoURL,
			PrimaryColor: clean.PrimaryColor, AccentColor: clean.AccentColor, SupportEmail: clean.SupportEmail,
			FromName: clean.FromName, FromEmail: clean.FromEmail, SupportURL: clean.SupportURL,
			FaviconUrl: clean.FaviconURL, SecondaryColor: clean.SecondaryColor, FontFamily: clean.FontFamily,
			CustomCss: clean.CustomCSS, TermsUrl: clean.TermsURL, PrivacyUrl: clean.PrivacyURL, IfVersion: cond,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: the branding changed meanwhile", ErrVersionMismatch)
		}
		if err != nil {
			return bus.Message{}, err
		}
		out = brandingFromRow(row)
		var prev any
		if exists {
			prev = brandingFromRow(before)
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "branding.set", t.ID, prev, out)
	})
	return out, err
}
