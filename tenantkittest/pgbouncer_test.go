package tenantkittest_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/tenantkittest"
)

// throughBouncer rewrites a connection URL to go through b.
func throughBouncer(t *testing.T, raw string, b *tenantkittest.PgBouncer) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = b.Addr()
	return u.String()
}

func TestPgBouncerForwardsTheTestRoles(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	b := tenantkittest.StartPgBouncer(t, db.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dsn := range []string{db.AppDSN(), db.OwnerDSN()} {
		conn, err := pgx.Connect(ctx, throughBouncer(t, dsn, b))
		if err != nil {
			t.Fatalf("connect through pgbouncer: %v", err)
		}
		var one int
		var user, dbName string
		err = conn.QueryRow(ctx, "SELECT 1, current_user, current_database()").Scan(&one, &user, &dbName)
		conn.Close(ctx)
		if err != nil || one != 1 || dbName != db.Name {
			t.Fatalf("SELECT 1 through pgbouncer as %s: %d %s %v", user, one, dbName, err)
		}
	}
	b.Stop()
	if conn, err := pgx.Connect(ctx, throughBouncer(t, db.AppDSN(), b)); err == nil {
		conn.Close(ctx)
		t.Fatal("connected through a stopped pgbouncer")
	}
}
