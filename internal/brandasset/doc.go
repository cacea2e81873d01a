// Package brandasset stores tenants' logos and favicons in their object
// storage and serves them from the platform's asset host.
//
// An upload is checked by its bytes, not only by the type it claims: only
// PNG, JPEG, WebP and (for a favicon) ICO images are taken, so that nothing
// a browser would run — SVG, HTML — is ever stored or served from the
// asset host. It is stored through the registry (the tenant's own storage,
// else the platform's default) under a fixed key, and the tenant's
// branding is pointed at https://ASSET_HOST/t/{tenant-id}/{logo|favicon}
// with the branding's version as a cache-busting query. The handler serves
// exactly those two names, sniffing again what it reads, with nosniff and
// a CSP that allows nothing.
package brandasset
