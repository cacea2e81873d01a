package move

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"

	"github.com/tenantkit/tenantkit"
)

func BenchmarkZZProbe(b *testing.B) {
	ctx := context.Background()
	e := newBenchEnv(b)
	kit := e.p.Kit(b, tenantkit.Config{Logger: slog.New(slog.DiscardHandler)})
	j := e.j
	if err := createPublication(ctx, j.src, j.names.publication(), e.tables); err != nil {
		b.Fatal(err)
	}
	repl, _ := j.src.replication(ctx)
	createSlot(ctx, repl, j.names.slot(), false)
	repl.Close(ctx)
	defer dropSlot(ctx, j.src, j.names.slot())
	start := time.Now()
	l := startBenchLoad(b, kit, "acme", 0, benchChanges)
	l.wait()
	b.Logf("wrote %d in %v", l.changes.Load(), time.Since(start))
	mark := randomHex()
	src := e.owner(b, j.src)
	src.Exec(ctx, "SELECT pg_logical_emit_message(false, $1, $2)", j.names.marker(), mark)
	for round := range 2 {
		repl, _ = j.src.replication(ctx)
		if err := pglogrepl.StartReplication(ctx, repl, j.names.slot(), 0, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names " + literal(j.names.publication()), "messages 'true'"}}); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		msgs, bytes, kinds := 0, 0, map[string]int{}
		for {
			raw, err := repl.ReceiveMessage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			cd, ok := raw.(*pgproto3.CopyData)
			if !ok || cd.Data[0] != pglogrepl.XLogDataByteID {
				continue
			}
			xld, _ := pglogrepl.ParseXLogData(cd.Data[1:])
			msg, _ := pglogrepl.Parse(xld.WALData)
			msgs++
			bytes += len(xld.WALData)
			kinds[fmt.Sprintf("%T", msg)]++
			if m, ok := msg.(*pglogrepl.LogicalDecodingMessage); ok && string(m.Content) == mark {
				break
			}
		}
		b.Logf("round %d: decoded %d messages, %d bytes, in %v: %v", round, msgs, bytes, time.Since(start), kinds)
		repl.Close(ctx)
	}
	s, err := openStream(ctx, j.names.hex, j.src, j.dst, j.names.slot(), j.names.publication(), j.names.marker(), 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	n := 0
	var recv time.Duration
	for !s.seen[mark] {
		t := time.Now()
		if err := s.receive(ctx, 20*time.Millisecond); err != nil {
			b.Fatal(err)
		}
		recv += time.Since(t)
		n++
	}
	b.Logf("applied %d changes in %v, %d receives", s.changes, time.Since(start), n)
	s.close()
	conn, _ := j.dst.owner(ctx)
	defer conn.Close(ctx)
	var ids []int64
	conn.Exec(ctx, "SELECT set_config($1, $2, false)", rlspolicy.Setting, j.dst.tenant.String())
	rows, _ := conn.Query(ctx, "SELECT id FROM app.orders")
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	ten := []byte(j.dst.tenant.String())
	q := "UPDATE \"app\".\"orders\" SET \"customer_id\" = $1, \"status\" = $2, \"total\" = $3, \"tags\" = $4, \"meta\" = $5, \"blob\" = $6, \"placed_at\" = $7 WHERE \"tenant_id\" = $8 AND \"id\" = $9"
	var cust []byte
	conn.QueryRow(ctx, "SELECT customer_id::text FROM app.orders LIMIT 1").Scan(&cust)
	args := func(id int64, i int) [][]byte {
		return [][]byte{cust, []byte(fmt.Sprintf("s%d", i)), []byte("1.00"), nil, nil, nil, nil, ten, []byte(fmt.Sprint(id))}
	}
	if _, err := conn.PgConn().Prepare(ctx, "upd", q, nil); err != nil {
		b.Fatal(err)
	}
	for round := range 3 {
		for _, prepared := range []bool{false, true} {
			bt := &pgconn.Batch{}
			bt.ExecParams("SELECT set_config($1, $2, true)", [][]byte{[]byte(rlspolicy.Setting), ten}, nil, nil, nil)
			for i := range 2000 {
				if prepared {
					bt.ExecPrepared("upd", args(ids[i%len(ids)], i+round), nil, nil)
				} else {
					bt.ExecParams(q, args(ids[i%len(ids)], i+round), nil, nil, nil)
				}
			}
			t := time.Now()
			conn.Exec(ctx, "BEGIN")
			res, err := conn.PgConn().ExecBatch(ctx, bt).ReadAll()
			conn.Exec(ctx, "COMMIT")
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("prepared=%v: 2000 updates in %v (%d rows)", prepared, time.Since(t), res[1].CommandTag.RowsAffected())
		}
	}
}
