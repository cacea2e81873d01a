package catalog

import (
	"io/fs"
	"testing/fstest"
)

// ParseMigration is parseMigration, for the tests of the phase header.
var ParseMigration = parseMigration

// NewMigratorWith returns a Migrator over the embedded migrations and
// extra, migration files the test writes: the way a test shows what a
// migration of a later release does to this one.
func NewMigratorWith(cfg MigratorConfig, extra fstest.MapFS) (*Migrator, error) {
	fsys := fstest.MapFS{}
	names, err := fs.Glob(embedded(), "*.sql")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		b, err := fs.ReadFile(embedded(), name)
		if err != nil {
			return nil, err
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	for name, f := range extra {
		fsys[name] = f
	}
	cfg.fsys = fsys
	return NewMigrator(cfg)
}
