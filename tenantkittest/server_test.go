package tenantkittest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

func TestNewDatabaseGivesEachTestItsOwnDatabase(t *testing.T) {
	t.Parallel()
	a := tenantkittest.NewDatabase(t)
	b := tenantkittest.NewDatabase(t)
	if a.Name == b.Name {
		t.Fatalf("two tests share database %s", a.Name)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.AppDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super, bypass bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("app role: superuser=%v bypassrls=%v, want both false", super, bypass)
	}
	var wal string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	if wal != "logical" {
		t.Fatalf("wal_level = %s, want logical", wal)
	}
}

func TestDatabaseIsDroppedAfterTheTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) { name = tenantkittest.NewDatabase(t).Name })
	s := tenantkittest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test", name)
	}
}
