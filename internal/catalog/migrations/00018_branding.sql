-- tenantkit:phase expand
-- +goose Up
-- The whole of a tenant's white-label look (internal/branding validates
-- it): favicon, a secondary colour, a font family, custom CSS (stored as
-- sanitized), terms and privacy links; and a version, the ETag of
-- GET/PUT /api/v1/tenants/{ref}/branding.
ALTER TABLE tenantkit.branding
    ADD COLUMN favicon_url     text NOT NULL DEFAULT '',
    ADD COLUMN secondary_color text NOT NULL DEFAULT '',
    ADD COLUMN font_family     text NOT NULL DEFAULT '',
    ADD COLUMN custom_css      text NOT NULL DEFAULT '',
    ADD COLUMN terms_url       text NOT NULL DEFAULT '',
    ADD COLUMN privacy_url     text NOT NULL DEFAULT '',
    ADD COLUMN version         bigint NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE tenantkit.branding DROP COLUMN favicon_url, DROP COLUMN secondary_color, DROP COLUMN font_family,
    DROP COLUMN custom_css, DROP COLUMN terms_url, DROP COLUMN privacy_url, DROP COLUMN version;
