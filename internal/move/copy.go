package move

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// copyAll copies every table of the tenant as of snapshot, a table after
// the tables it references, the tables of one level in parallel.
func (r *Runner) copyAll(ctx context.Context, src, dst end, snapshot string, tables []table, prog *tracker) error {
	for _, level := range levels(tables) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.cfg.CopyWorkers)
		for _, t := range level {
			g.Go(func() error {
				if err := copyTable(gctx, src, dst, snapshot, t, prog.table(t.Name)); err != nil {
					return fmt.Errorf("copy %s: %w", t.Name, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// copyTable streams one table's rows in binary COPY format from the
// source, inside the slot's snapshot, into the target.
func copyTable(ctx context.Context, src, dst end, snapshot string, t table, tp *tableCounter) error {
	in, err := src.reader(ctx)
	if err != nil {
		return err
	}
	defer in.Close(ctx)
	out, err := dst.reader(ctx)
	if err != nil {
		return err
	}
	defer out.Close(ctx)
	cols := columnList(t.Columns)
	return pgx.BeginTxFunc(ctx, in, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(stx pgx.Tx) error {
		if _, err := stx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+literal(snapshot)); err != nil {
			return fmt.Errorf("import the slot's snapshot: %w", err)
		}
		// The progress's total is the planner's estimate, which costs no
		// pass over the rows; it becomes the count when the copy ends.
		var plan []map[string]map[string]any
		if err := stx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT FROM "+ident(src.schema, t.Name)+src.where()).Scan(&plan); err == nil && len(plan) == 1 {
			if rows, ok := plan[0]["Plan"]["Plan Rows"].(float64); ok {
				tp.total.Store(int64(rows))
			}
		}
		from := "COPY " + ident(src.schema, t.Name) + " (" + cols + ") TO STDOUT (FORMAT binary)"
		if src.shared() {
			from = "COPY (SELECT " + cols + " FROM " + ident(src.schema, t.Name) + src.where() + ") TO STDOUT (FORMAT binary)"
		}
		to := "COPY " + ident(dst.schema, t.Name) + " (" + cols + ") FROM STDIN (FORMAT binary)"
		// COPY FROM refuses tables under row-level security, so the copy
		// writes as the replication role, which bypasses it; the source
		// side filtered the rows to the tenant's.
		return pgx.BeginFunc(ctx, out, func(dtx pgx.Tx) error {
			// As a replica, as PostgreSQL's own table sync does: the rows
			// come consistent from one snapshot, so the target's foreign
			// keys need no check row by row, nor its triggers a run.
			if _, err := dtx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
				return err
			}
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				_, err := stx.Conn().PgConn().CopyTo(ctx, pw, from)
				pw.CloseWithError(err)
				done <- err
			}()
			_, err := dtx.Conn().PgConn().CopyFrom(ctx, &countingReader{r: pr, c: tp}, to)
			pr.CloseWithError(io.ErrClosedPipe)
			if serr := <-done; serr != nil && err == nil {
				err = serr
			}
			if err == nil {
				tp.total.Store(tp.rows.Load())
				tp.done.Store(true)
			}
			return err
		})
	})
}

func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = ident(c)
	}
	return strings.Join(q, ", ")
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// tableCounter counts one table's copy as it streams.
type tableCounter struct {
	total, rows, bytes atomic.Int64
	done               atomic.Bool
}

// countingReader counts the rows and bytes of a binary COPY stream passing
// through it, parsing just enough of the format to find each row.
type countingReader struct {
	r io.Reader
	c *tableCounter
	p copyParser
}

func (cr *countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	if n > 0 {
		cr.c.bytes.Add(int64(n))
		cr.c.rows.Add(cr.p.feed(b[:n]))
	}
	return n, err
}

// copyParser walks a binary COPY stream: a 19-byte header and its
// extension, then rows of an int16 field count followed, per field, by an
// int32 length and that many bytes (-1: NULL), ending with a count of -1.
type copyParser struct {
	state  int // 0 header, 1 extension, 2 field count, 3 field length, 4 field data, 5 trailer seen
	buf    [19]byte
	have   int
	skip   int64
	fields int
}

func (p *copyParser) feed(b []byte) (rows int64) {
	for len(b) > 0 {
		switch p.state {
		case 0, 2, 3:
			need := 4
			switch p.state {
			case 0:
				need = 19
			case 2:
				need = 2
			}
			k := copy(p.buf[p.have:need], b)
			p.have += k
			b = b[k:]
			if p.have < need {
				return rows
			}
			p.have = 0
			switch p.state {
			case 0:
				p.skip = int64(binary.BigEndian.Uint32(p.buf[15:19]))
				p.state = 1
			case 2:
				n := int16(binary.BigEndian.Uint16(p.buf[:2]))
				if n < 0 {
					p.state = 5
					continue
				}
				rows++
				p.fields = int(n)
				p.state = p.nextField()
			case 3:
				l := int32(binary.BigEndian.Uint32(p.buf[:4]))
				p.fields--
				if l <= 0 {
					p.state = p.nextField()
					continue
				}
				p.skip = int64(l)
				p.state = 4
			}
		case 1, 4:
			k := min(int64(len(b)), p.skip)
			p.skip -= k
			b = b[k:]
			if p.skip == 0 {
				if p.state == 1 {
					p.state = 2
				} else {
					p.state = p.nextField()
				}
			}
		default:
			return rows
		}
	}
	return rows
}

func (p *copyParser) nextField() int {
	if p.fields > 0 {
		return 3
	}
	return 2
}
