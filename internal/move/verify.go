package move

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"golang.org/x/sync/errgroup"
)

// verify compares every table's row count and an order-independent hash
// of its rows on both ends. The hash is two sums over a 64-bit hash of
// each row's text, so that rows in any order give the same value and a
// duplicated row does not cancel out.
func verify(ctx context.Context, src, dst end, tables []table) ([]TableCheck, error) {
	return verifyAt(ctx, src, dst, tables, "")
}

// verifyAt is verify with the source read in an exported snapshot.
func verifyAt(ctx context.Context, src, dst end, tables []table, snapshot string) ([]TableCheck, error) {
	out := make([]TableCheck, len(tables))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range tables {
		g.Go(func() error { return checkEnd(gctx, src, tables[i:i+1], out[i:i+1], true, snapshot) })
		g.Go(func() error { return checkEnd(gctx, dst, tables[i:i+1], out[i:i+1], false, "") })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Name = tables[i].Name
		out[i].Match = out[i].SourceRows == out[i].TargetRows && out[i].SourceHash == out[i].TargetHash
	}
	return out, nil
}

func checkEnd(ctx context.Context, e end, tables []table, out []TableCheck, source bool, snapshot string) error {
	conn, err := e.reader(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if snapshot != "" {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+literal(snapshot)); err != nil {
			return fmt.Errorf("import the verification snapshot: %w", err)
		}
	}
	for i, t := range tables {
		var n int64
		var hash string
		err := conn.QueryRow(ctx, "SELECT count(*), "+
			"to_hex(coalesce(bit_xor(hashtextextended(r::text, 0)), 0)) || '-' || coalesce(sum(hashtextextended(r::text, 1)::numeric), 0)::text "+
			"FROM (SELECT "+columnList(t.Columns)+" FROM "+ident(e.schema, t.Name)+e.where()+") r").Scan(&n, &hash)
		if err != nil {
			return fmt.Errorf("verify %s on %s: %w", t.Name, e, err)
		}
		if source {
			out[i].SourceRows, out[i].SourceHash = n, hash
		} else {
			out[i].TargetRows, out[i].TargetHash = n, hash
		}
	}
	return nil
}

// mismatch describes the tables whose checks differ, or is empty.
func mismatch(checks []TableCheck) string {
	s := ""
	for _, c := range checks {
		if !c.Match {
			if s != "" {
				s += "; "
			}
			s += fmt.Sprintf("%s: %d rows (%s) on the source, %d rows (%s) on the target", c.Name, c.SourceRows, c.SourceHash, c.TargetRows, c.TargetHash)
		}
	}
	return s
}

// baseline verifies the ends at one consistent point, off the fence: a
// temporary slot's exported snapshot of the source, and the target with
// the stream held just before the slot's consistent point. From then on
// the stream tracks the rows it touches; rounds that compare only those,
// each at a new consistent point, shrink what the fence's verification
// has left to compare.
func (j *job) baseline(ctx context.Context, s *stream, from, to end, tables []table) error {
	if err := j.phase(ctx, "verifying: full comparison at a consistent point"); err != nil {
		return err
	}
	if err := j.consistentCheck(ctx, s, from, to, tables, true); err != nil {
		return err
	}
	for round := 1; round <= 4 && s.changedRows() > 200; round++ {
		if err := j.phase(ctx, fmt.Sprintf("verifying: %d rows changed since, round %d", s.changedRows(), round)); err != nil {
			return err
		}
		if err := j.catchUp(ctx, s); err != nil {
			return err
		}
		if err := j.consistentCheck(ctx, s, from, to, tables, false); err != nil {
			return err
		}
	}
	return nil
}

// consistentCheck compares the ends at a consistent point: all tables
// (full) or the rows changed since the last check.
func (j *job) consistentCheck(ctx context.Context, s *stream, from, to end, tables []table, full bool) error {
	repl, err := from.replication(ctx)
	if err != nil {
		return err
	}
	defer repl.Close(context.WithoutCancel(ctx))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, "tk_check_"+j.names.hex+"_"+hex.EncodeToString(b), "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		return fmt.Errorf("create the verification slot: %w", err)
	}
	point, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return err
	}
	s.holdAt = point
	if err := s.pump(ctx, time.Minute, func() bool { return s.position() >= point }); err != nil {
		return err
	}
	if !s.held && s.position() < point {
		return fmt.Errorf("the stream did not reach the verification point %s in a minute", point)
	}
	var checks []TableCheck
	if full {
		checks, err = verifyAt(ctx, from, to, tables, res.SnapshotName)
	} else {
		checks, err = verifyChanged(ctx, from, to, tables, s, res.SnapshotName, nil)
	}
	if err != nil {
		return err
	}
	if full {
		j.prog.update(func(p *Progress) { p.Verified = checks })
	}
	if d := mismatch(checks); d != "" {
		return &errDiverged{detail: d}
	}
	s.changed, s.truncated = nil, nil
	return s.release(ctx)
}

// verifyChanged compares, under the fence, the rows the stream touched
// since the baseline (whole tables where it could not track them).
func verifyChanged(ctx context.Context, from, to end, tables []table, s *stream, snapshot string, open *readers) ([]TableCheck, error) {
	if !s.tracking {
		return verifyAt(ctx, from, to, tables, snapshot)
	}
	type job struct {
		name             string
		keys             int
		srcRows, dstRows []string
	}
	var full []table
	var jobs []*job
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(6)
	for _, t := range tables {
		if s.truncated[t.Name] {
			full = append(full, t)
			continue
		}
		keys := s.changed[t.Name]
		if len(keys) == 0 {
			continue
		}
		jb := &job{name: t.Name, keys: len(keys)}
		jobs = append(jobs, jb)
		cols := s.keyCols[t.Name]
		if open != nil {
			// Under the fence: on the connections opened before it, a
			// table after the other.
			var err error
			if jb.srcRows, err = readByKey(ctx, open.from, from, t, cols, keys); err != nil {
				return nil, err
			}
			if jb.dstRows, err = readByKey(ctx, open.to, to, t, cols, keys); err != nil {
				return nil, err
			}
			continue
		}
		g.Go(func() (err error) { jb.srcRows, err = rowsByKey(gctx, from, t, cols, keys, snapshot); return err })
		g.Go(func() (err error) { jb.dstRows, err = rowsByKey(gctx, to, t, cols, keys, ""); return err })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []TableCheck
	for _, jb := range jobs {
		c := TableCheck{Name: jb.name, SourceRows: int64(len(jb.srcRows)), TargetRows: int64(len(jb.dstRows)),
			SourceHash: fmt.Sprintf("%d changed rows", jb.keys), TargetHash: fmt.Sprintf("%d changed rows", jb.keys),
			Match: slices.Equal(jb.srcRows, jb.dstRows)}
		if !c.Match {
			c.TargetHash = "differs"
		}
		out = append(out, c)
	}
	if len(full) > 0 {
		checks, err := verifyAt(ctx, from, to, full, snapshot)
		if err != nil {
			return nil, err
		}
		out = append(out, checks...)
	}
	return out, nil
}

// rowsByKey reads the rows of t with the given keys at an end, as sorted
// text.
func rowsByKey(ctx context.Context, e end, t table, keyCols []string, keys map[string][][]byte, snapshot string) ([]string, error) {
	conn, err := e.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if snapshot != "" {
		if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			return nil, err
		}
		if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+literal(snapshot)); err != nil {
			return nil, fmt.Errorf("import the verification snapshot: %w", err)
		}
	}
	return readByKey(ctx, conn, e, t, keyCols, keys)
}

// readers are connections to both ends opened before the fence.
type readers struct{ from, to *pgx.Conn }

func openReaders(ctx context.Context, from, to end) (*readers, error) {
	f, err := from.reader(ctx)
	if err != nil {
		return nil, err
	}
	t, err := to.reader(ctx)
	if err != nil {
		f.Close(ctx)
		return nil, err
	}
	return &readers{from: f, to: t}, nil
}

func (r *readers) close() {
	ctx := context.Background()
	r.from.Close(ctx)
	r.to.Close(ctx)
}

// readByKey reads the rows of t with the given keys on conn, as sorted
// text.
func readByKey(ctx context.Context, conn *pgx.Conn, e end, t table, keyCols []string, keys map[string][][]byte) ([]string, error) {
	var types []string
	if err := conn.QueryRow(ctx, `SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY array_position($2::text[], a.attname::text))
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = ANY ($2::text[])`,
		ident(e.schema, t.Name), keyCols).Scan(&types); err != nil {
		return nil, fmt.Errorf("look up the key of %s: %w", t.Name, err)
	}
	// The keys travel as one text array per column, cast back to the
	// columns' types on the server: one plan whatever their number.
	arrays := make([][]string, len(keyCols))
	for _, k := range keys {
		for i, v := range k {
			arrays[i] = append(arrays[i], string(v))
		}
	}
	cols := make([]string, len(keyCols))
	unnest := make([]string, len(keyCols))
	casts := make([]string, len(keyCols))
	args := make([]any, len(keyCols))
	for i, c := range keyCols {
		cols[i] = ident(c)
		unnest[i] = fmt.Sprintf("$%d::text[]", i+1)
		casts[i] = fmt.Sprintf("u.c%d::%s", i, types[i])
		args[i] = arrays[i]
	}
	names := make([]string, len(keyCols))
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	where := "(" + strings.Join(cols, ", ") + ") IN (SELECT " + strings.Join(casts, ", ") + " FROM unnest(" +
		strings.Join(unnest, ", ") + ") AS u(" + strings.Join(names, ", ") + "))"
	if f := e.where(); f != "" {
		where = strings.TrimPrefix(f, " WHERE ") + " AND " + where
	}
	rows, err := conn.Query(ctx, "SELECT r::text FROM (SELECT "+columnList(t.Columns)+" FROM "+ident(e.schema, t.Name)+" WHERE "+where+") r", args...)
	if err != nil {
		return nil, fmt.Errorf("read changed rows of %s on %s: %w", t.Name, e, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read changed rows of %s on %s: %w", t.Name, e, err)
	}
	slices.Sort(out)
	return out, nil
}
