package certstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults for Options.
const (
	DefaultLockTTL      = time.Minute
	DefaultPollInterval = 500 * time.Millisecond
)

// Options configures a Storage.
type Options struct {
	// LockTTL is how long a lock outlives its holder's last sign of life:
	// the holder extends it every LockTTL/3, so another instance takes
	// over a crashed holder's lock at most LockTTL after the crash.
	// Defaults to DefaultLockTTL.
	LockTTL time.Duration
	// PollInterval is the mean wait between two attempts of a blocked
	// Lock; each wait is drawn from [PollInterval/2, 3*PollInterval/2) so
	// that waiting instances do not retry in lockstep. Defaults to
	// DefaultPollInterval.
	PollInterval time.Duration
	// Owner names this instance in tenantkit.cert_locks, for operators
	// wondering who holds a lock. Defaults to "hostname:pid".
	Owner string
	// Logger receives lost locks and failed extensions. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Storage is a certmagic.Storage and certmagic.TryLocker on the catalog
// database. It is safe for concurrent use; Storage values on the same
// catalog, in one process or many, share keys and exclude each other's
// locks.
type Storage struct {
	pool   *pgxpool.Pool
	ttl    time.Duration
	poll   time.Duration
	owner  string
	logger *slog.Logger

	mu   sync.Mutex
	held map[string]*lease // the locks this Storage holds, by name
}

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

// New returns a Storage on pool, a pool on the catalog database whose role
// may read and write tenantkit.cert_storage and tenantkit.cert_locks.
// Non-positive durations in opts take their defaults.
func New(pool *pgxpool.Pool, opts Options) *Storage {
	s := &Storage{
		pool:   pool,
		ttl:    orDefault(opts.LockTTL, DefaultLockTTL),
		poll:   orDefault(opts.PollInterval, DefaultPollInterval),
		owner:  opts.Owner,
		logger: opts.Logger,
		held:   make(map[string]*lease),
	}
	if s.owner == "" {
		host, _ := os.Hostname()
		s.owner = host + ":" + strconv.Itoa(os.Getpid())
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "certstore:" + s.owner }

const storeSQL = `
INSERT INTO tenantkit.cert_storage (key, value, modified) VALUES ($1, $2, now())
ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`

// Store puts value at key, replacing what was there.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{} // value is NOT NULL; an empty file is still a file
	}
	if _, err := s.pool.Exec(ctx, storeSQL, key, value); err != nil {
		return fmt.Errorf("certstore: store %q: %w", key, err)
	}
	return nil
}

const loadSQL = `SELECT value FROM tenantkit.cert_storage WHERE key = $1`

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	var value []byte
	err := s.pool.QueryRow(ctx, loadSQL, key).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("certstore: load %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("certstore: load %q: %w", key, err)
	}
	return value, nil
}

const deleteSQL = `
DELETE FROM tenantkit.cert_storage WHERE key = $1 OR key LIKE $2 ESCAPE '\'`

// Delete removes key and, if key is a directory, every key below it. A
// missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if key == "" {
		// The root is everyone's directory: certmagic never deletes it,
		// and a bug that did should not wipe every certificate.
		return errors.New("certstore: delete of the empty key")
	}
	if _, err := s.pool.Exec(ctx, deleteSQL, key, below(key)); err != nil {
		return fmt.Errorf("certstore: delete %q: %w", key, err)
	}
	return nil
}

const existsSQL = `
SELECT EXISTS (
    SELECT 1 FROM tenantkit.cert_storage WHERE key = $1 OR key LIKE $2 ESCAPE '\'
)`

// Exists reports whether key is a file or a directory (a prefix of a file).
// An error counts as not existing.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	var ok bool
	if err := s.pool.QueryRow(ctx, existsSQL, key, below(key)).Scan(&ok); err != nil {
		s.logger.WarnContext(ctx, "certstore: exists", "key", key, "err", err)
		return false
	}
	return ok
}

// The file row comes first when key is both a file and a directory.
const statSQL = `
SELECT true, modified, octet_length(value)::bigint
  FROM tenantkit.cert_storage WHERE key = $1
UNION ALL
SELECT false, max(modified), 0
  FROM tenantkit.cert_storage WHERE key LIKE $2 ESCAPE '\'
HAVING count(*) > 0
ORDER BY 1 DESC
LIMIT 1`

// Stat describes key: a file with its size and modification time, or a
// directory with the newest modification time below it. A missing key is
// an error wrapping fs.ErrNotExist.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	info := certmagic.KeyInfo{Key: key}
	err := s.pool.QueryRow(ctx, statSQL, key, below(key)).Scan(&info.IsTerminal, &info.Modified, &info.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", key, err)
	}
	return info, nil
}

// $1 is the directory with its trailing slash ("" for the root).
const listChildrenSQL = `
SELECT DISTINCT $1::text || split_part(substr(key, char_length($1::text) + 1), '/', 1)
  FROM tenantkit.cert_storage WHERE key LIKE $2 ESCAPE '\'
 ORDER BY 1`

const listBelowSQL = `
SELECT key FROM tenantkit.cert_storage WHERE key LIKE $1 ESCAPE '\' ORDER BY key`

const isFileSQL = `SELECT EXISTS (SELECT 1 FROM tenantkit.cert_storage WHERE key = $1)`

// List returns the keys below dir, as certmagic's FileStorage does: its
// direct children, files and directories, or, when recursive, every file
// and directory below it, all as full keys. A file has nothing below it; a
// dir that is neither file nor directory is an error wrapping
// fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	dir = strings.TrimSuffix(dir, "/")
	keys, err := s.list(ctx, dir, recursive)
	if err != nil {
		return nil, fmt.Errorf("certstore: list %q: %w", dir, err)
	}
	if len(keys) > 0 {
		return keys, nil
	}
	var isFile bool
	if err := s.pool.QueryRow(ctx, isFileSQL, dir).Scan(&isFile); err != nil {
		return nil, fmt.Errorf("certstore: list %q: %w", dir, err)
	}
	if !isFile {
		return nil, fmt.Errorf("certstore: list %q: %w", dir, fs.ErrNotExist)
	}
	return nil, nil
}

func (s *Storage) list(ctx context.Context, dir string, recursive bool) ([]string, error) {
	if !recursive {
		rows, _ := s.pool.Query(ctx, listChildrenSQL, withSlash(dir), below(dir))
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	rows, _ := s.pool.Query(ctx, listBelowSQL, below(dir))
	files, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return withDirectories(withSlash(dir), files), nil
}

// withDirectories returns files, all below prefix, with the directories
// between prefix and each of them, sorted and without duplicates.
func withDirectories(prefix string, files []string) []string {
	var out []string
	for _, f := range files {
		for i := len(prefix); i < len(f); i++ {
			if f[i] == '/' {
				out = append(out, f[:i])
			}
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func withSlash(dir string) string {
	if dir == "" {
		return ""
	}
	return dir + "/"
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// below is the LIKE pattern (with ESCAPE '\') of every key below dir.
func below(dir string) string {
	return likeEscaper.Replace(withSlash(dir)) + "%"
}
