package move

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// verify compares every table's row count and an order-independent hash
// of its rows on both ends. The hash is two sums over a 64-bit hash of
// each row's text, so that rows in any order give the same value and a
// duplicated row does not cancel out.
func verify(ctx context.Context, src, dst end, tables []table) ([]TableCheck, error) {
	out := make([]TableCheck, len(tables))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range tables {
		g.Go(func() error { return checkEnd(gctx, src, tables[i:i+1], out[i:i+1], true) })
		g.Go(func() error { return checkEnd(gctx, dst, tables[i:i+1], out[i:i+1], false) })
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

func checkEnd(ctx context.Context, e end, tables []table, out []TableCheck, source bool) error {
	conn, err := e.reader(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
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
