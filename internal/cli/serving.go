package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/server"
)

// serveOptions are what dev and serve share.
type serveOptions struct {
	addr        string
	databaseURL string // catalog, as the owner role
	redisURL    string
	adminToken  string
	baseDomain  string
	app         http.Handler
	log         *slog.Logger
	// ready is called with the bound address once the server listens.
	ready func(addr string)
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, o serveOptions) error {
	pool, err := pgxpool.New(ctx, o.databaseURL)
	if err != nil {
		return fmt.Errorf("catalog database URL: %w", err)
	}
	defer pool.Close()
	kit, err := tenantkit.New(tenantkit.Config{
		Pool: pool, DatabaseURL: o.databaseURL, RedisURL: o.redisURL, Logger: o.log,
		Resolvers: tenantkit.ResolverConfig{BaseDomain: o.baseDomain, CustomDomains: true},
	})
	if err != nil {
		return err
	}
	defer kit.Close()
	var after func(context.Context, bus.Message)
	if o.redisURL != "" {
		r, err := bus.NewRedis(bus.RedisConfig{URL: o.redisURL, Logger: o.log})
		if err != nil {
			return err
		}
		defer r.Close()
		after = func(ctx context.Context, m bus.Message) {
			if err := r.Publish(context.WithoutCancel(ctx), m); err != nil {
				o.log.Warn("publish invalidation to redis", "err", err)
			}
		}
	}
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: o.adminToken, App: o.app, AfterCommitFunc: after, Logger: o.log})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	if o.ready != nil {
		o.ready(l.Addr().String())
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return kit.Start(gctx) })
	g.Go(func() error { return srv.Serve(gctx, l) })
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
