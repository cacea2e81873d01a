package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// defaultConnectTimeout bounds a connection attempt whose connection string
// sets no connect_timeout, so an unreachable server cannot stall reconnects.
const defaultConnectTimeout = 10 * time.Second

// PGListenerConfig configures a PGListener.
type PGListenerConfig struct {
	// ConnString is the pgx connection string (URL or key=value) of the
	// database whose notifications to receive: the catalog. Any role that
	// can connect will do. Required.
	ConnString string
	// Logger receives lost connections and undecodable payloads. Defaults
	// to slog.Default().
	Logger *slog.Logger
	// MinBackoff is the delay before the first reconnect attempt; it
	// doubles, with jitter, at each failed attempt. Defaults to 50ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay between reconnect attempts. Defaults to 5s.
	MaxBackoff time.Duration
	// PingInterval is how long the listener waits without a notification
	// before it pings the server, so that a server that vanished without
	// closing the connection is noticed. Defaults to 15s.
	PingInterval time.Duration
}

// PGListener receives invalidation messages with PostgreSQL LISTEN on one
// dedicated connection, reconnecting whenever it is lost.
type PGListener struct {
	config    *pgx.ConnConfig
	log       *slog.Logger
	timing    timing
	running   atomic.Bool
	connected atomic.Bool
}

// NewPGListener returns a listener; it connects when Run is called.
func NewPGListener(cfg PGListenerConfig) (*PGListener, error) {
	if cfg.ConnString == "" {
		return nil, errors.New("bus: PGListenerConfig.ConnString is required")
	}
	config, err := pgx.ParseConfig(cfg.ConnString)
	if err != nil {
		return nil, fmt.Errorf("bus: parse ConnString: %w", err)
	}
	if config.ConnectTimeout == 0 {
		config.ConnectTimeout = defaultConnectTimeout
	}
	t, err := newTiming(cfg.MinBackoff, cfg.MaxBackoff, cfg.PingInterval)
	if err != nil {
		return nil, err
	}
	return &PGListener{config: config, log: orDefaultLogger(cfg.Logger), timing: t}, nil
}

// Connected reports whether the listener is connected and listening, for
// readiness checks.
func (l *PGListener) Connected() bool { return l.connected.Load() }

// Run listens on Channel and hands messages to h until ctx is done, then
// returns nil. After every successful (re)connection, the first included, it
// calls h.Reset, since messages sent while disconnected are lost. It calls h
// from its own goroutine, one call at a time. A listener runs once at a time:
// a second concurrent Run returns an error.
func (l *PGListener) Run(ctx context.Context, h Handler) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("bus: PGListener is already running")
	}
	defer l.running.Store(false)
	runSessions(ctx, l.timing, l.log, "postgres", func(ctx context.Context, up func()) error {
		defer l.connected.Store(false)
		return l.session(ctx, h, up)
	})
	return nil
}

func (l *PGListener) session(ctx context.Context, h Handler, up func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.config)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Drop what may be stale before anyone sees us connected.
	h.Reset()
	l.connected.Store(true)
	up()
	for {
		n, err := l.wait(ctx, conn)
		if err != nil {
			return err
		}
		if n.Channel == Channel {
			deliver(l.log, h, n.Payload)
		}
	}
}

// wait returns the next notification. While none comes it pings the server
// every PingInterval: a connection to a server that vanished silently would
// otherwise wait forever.
func (l *PGListener) wait(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, l.timing.pingInterval)
		n, err := conn.WaitForNotification(wctx)
		idle := wctx.Err() == context.DeadlineExceeded
		cancel()
		switch {
		case err == nil:
			return n, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !idle:
			return nil, err
		}
		// pgx keeps the connection usable after a wait ends on a deadline,
		// and queues notifications that arrive during the ping.
		pctx, cancel := context.WithTimeout(ctx, l.timing.pingTimeout())
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ping: %w", err)
		}
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// deliver decodes a payload and passes it on. A payload that cannot be
// decoded says something changed without saying what: drop everything.
func deliver(log *slog.Logger, h Handler, payload string) {
	m, err := Decode(payload)
	if err != nil {
		log.Error("bus: undecodable invalidation message; resetting cache", "err", err, "payload", truncate(payload, 200))
		h.Reset()
		return
	}
	h.Invalidate(m)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Execer runs a statement. *pgx.Conn, *pgxpool.Pool and pgx.Tx satisfy it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// maxNotifyPayload is the largest payload NOTIFY accepts: the server's
// limit is under 8000 bytes.
const maxNotifyPayload = 7999

// PGPublisher publishes messages with pg_notify, for code that changes
// cached state outside the catalog's triggers.
type PGPublisher struct {
	db Execer
}

// NewPGPublisher returns a publisher that sends through db. Given a pgx.Tx,
// the message goes out when the transaction commits, and not at all if it
// rolls back.
func NewPGPublisher(db Execer) *PGPublisher { return &PGPublisher{db: db} }

// Publish sends m to every listener on the database. A message too large for
// NOTIFY is sent as Message{All: true}: dropping more than needed is safe,
// dropping less is not.
func (p *PGPublisher) Publish(ctx context.Context, m Message) error {
	payload := m.Encode()
	if len(payload) > maxNotifyPayload {
		payload = Message{All: true}.Encode()
	}
	if _, err := p.db.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, payload); err != nil {
		return fmt.Errorf("bus: notify: %w", err)
	}
	return nil
}
