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
// the stream tracks the rows it touches, and the fence's verification
// compares only those.
func (j *job) baseline(ctx context.Context, s *stream, from, to end, tables []table) error {
	if err := j.phase(ctx, "verifying: full comparison at a consistent point"); err != nil {
		return err
	}
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
	checks, err := verifyAt(ctx, from, to, tables, res.SnapshotName)
	if err != nil {
		return err
	}
	j.prog.update(func(p *Progress) { p.Verified = checks })
	if d := mismatch(checks); d != "" {
		return &errDiverged{detail: d}
	}
	return s.release(ctx)
}

// verifyChanged compares, under the fence, the rows the stream touched
// since the baseline (whole tables where it could not track them).
func verifyChanged(ctx context.Context, from, to end, tables []table, s *stream) ([]TableCheck, error) {
	if !s.tracking {
		return verify(ctx, from, to, tables)
	}
	var full []table
	var out []TableCheck
	for _, t := range tables {
		if s.truncated[t.Name] {
			full = append(full, t)
			continue
		}
		keys := s.changed[t.Name]
		if len(keys) == 0 {
			continue
		}
		c := TableCheck{Name: t.Name}
		var err error
		var srcRows, dstRows []string
		if srcRows, err = rowsByKey(ctx, from, t, s.keyCols[t.Name], keys); err != nil {
			return nil, err
		}
		if dstRows, err = rowsByKey(ctx, to, t, s.keyCols[t.Name], keys); err != nil {
			return nil, err
		}
		c.SourceRows, c.TargetRows = int64(len(srcRows)), int64(len(dstRows))
		c.SourceHash, c.TargetHash = fmt.Sprintf("%d changed rows", len(keys)), fmt.Sprintf("%d changed rows", len(keys))
		c.Match = slices.Equal(srcRows, dstRows)
		if !c.Match {
			c.TargetHash = "differs"
		}
		out = append(out, c)
	}
	if len(full) > 0 {
		checks, err := verify(ctx, from, to, full)
		if err != nil {
			return nil, err
		}
		out = append(out, checks...)
	}
	return out, nil
}

// rowsByKey reads the rows of t with the given keys at an end, as sorted
// text.
func rowsByKey(ctx context.Context, e end, t table, keyCols []string, keys map[string][][]byte) ([]string, error) {
	conn, err := e.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var out []string
	all := make([][][]byte, 0, len(keys))
	for _, k := range keys {
		all = append(all, k)
	}
	cols := make([]string, len(keyCols))
	for i, c := range keyCols {
		cols[i] = ident(c)
	}
	for start := 0; start < len(all); start += 500 {
		batch := all[start:min(start+500, len(all))]
		var tuples []string
		var args [][]byte
		for _, k := range batch {
			ph := make([]string, len(k))
			for i, v := range k {
				args = append(args, v)
				ph[i] = fmt.Sprintf("$%d", len(args))
			}
			tuples = append(tuples, "("+strings.Join(ph, ", ")+")")
		}
		where := "(" + strings.Join(cols, ", ") + ") IN (" + strings.Join(tuples, ", ") + ")"
		if f := e.where(); f != "" {
			where = strings.TrimPrefix(f, " WHERE ") + " AND " + where
		}
		sql := "SELECT r::text FROM (SELECT " + columnList(t.Columns) + " FROM " + ident(e.schema, t.Name) + " WHERE " + where + ") r"
		rr := conn.PgConn().ExecParams(ctx, sql, args, nil, nil, nil)
		for rr.NextRow() {
			out = append(out, string(rr.Values()[0]))
		}
		if _, err := rr.Close(); err != nil {
			return nil, fmt.Errorf("read changed rows of %s on %s: %w", t.Name, e, err)
		}
	}
	slices.Sort(out)
	return out, nil
}
