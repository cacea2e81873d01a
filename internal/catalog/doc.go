// Package catalog is the control plane's source of truth: the versioned
// schema of the catalog database (tenants, plans, limits, features,
// branding, custom domains, audit log), its migrations, and Store, through
// which every admin change is validated, written together with its audit
// record in one transaction, and announced to every cache.
package catalog
