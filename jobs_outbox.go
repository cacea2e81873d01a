package tenantkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/router"
)

// The job outbox. A job enqueued in a scoped transaction (EnqueueTx) is a
// row of tenantkit.job_outbox in the tenant's own database, written in
// that transaction, so it exists if and only if the transaction commits,
// for the price of one statement and no round trip to the catalog, where
// River's tables are. After the commit the process relays the row to
// River and deletes it: one transaction in the data database deletes the
// rows (locking them against another relay), a transaction in the catalog
// inserts their jobs, and the first commits after the second.
//
// What a process leaves behind (it dies after a commit, a relay fails, a
// commit's outcome is lost) is relayed by the rounds every ReconcileInterval:
// a process marks each data database before its first job there commits
// (tenantkit.job_outbox_marks) and keeps its marks alive; any process
// relays the whole outbox of a database whose mark expired, and of one
// where its own relay failed. Each job's River id is drawn at enqueue, so a
// round that finds a row whose job River already has (a relay that
// committed in the catalog and not in the data database) deletes it
// without inserting it again.

// outboxParams is a job as River would insert it, as kept in the outbox.
type outboxParams struct {
	Kind         string             `json:"kind"`
	Args         json.RawMessage    `json:"args"`
	Queue        string             `json:"queue"`
	Priority     int                `json:"priority"`
	MaxAttempts  int                `json:"max_attempts"`
	Metadata     json.RawMessage    `json:"metadata,omitempty"`
	Tags         []string           `json:"tags,omitempty"`
	ScheduledAt  *time.Time         `json:"scheduled_at,omitempty"`
	State        rivertype.JobState `json:"state"`
	UniqueKey    []byte             `json:"unique_key,omitempty"`
	UniqueStates byte               `json:"unique_states,omitempty"`
}

func paramsOf(p *rivertype.JobInsertParams) outboxParams {
	return outboxParams{
		Kind: p.Kind, Args: p.EncodedArgs, Queue: p.Queue, Priority: p.Priority, MaxAttempts: p.MaxAttempts,
		Metadata: p.Metadata, Tags: p.Tags, ScheduledAt: p.ScheduledAt, State: p.State,
		UniqueKey: p.UniqueKey, UniqueStates: p.UniqueStates,
	}
}

// insert is o as River's insert parameters, with id.
func (o *outboxParams) insert(id int64) rivertype.JobInsertParams {
	return rivertype.JobInsertParams{
		ID: &id, Args: kindArgs(o.Kind), EncodedArgs: o.Args, Kind: o.Kind, MaxAttempts: o.MaxAttempts,
		Metadata: o.Metadata, Priority: o.Priority, Queue: o.Queue, ScheduledAt: o.ScheduledAt, State: o.State,
		Tags: o.Tags, UniqueKey: o.UniqueKey, UniqueStates: o.UniqueStates,
	}
}

// kindArgs stands for a relayed job's args in River's insert path: the
// encoded args are the ones captured at enqueue.
type kindArgs string

func (k kindArgs) Kind() string { return string(k) }

// captureKey marks the context of an insert that EnqueueTx captures.
type captureKey struct{}

// outboxCapture is the innermost insert middleware of the Kit's River
// client. On an insert EnqueueTx makes, it keeps the parameters River
// computed (the args encoded, the options resolved, the unique key with
// its tenant) and inserts nothing.
type outboxCapture struct{ river.MiddlewareDefaults }

func (*outboxCapture) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	dst, ok := ctx.Value(captureKey{}).(*[]*rivertype.JobInsertParams)
	if !ok {
		return doInner(ctx)
	}
	*dst = params
	res := make([]*rivertype.JobInsertResult, len(params))
	for i := range params {
		res[i] = &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}
	}
	return res, nil
}

// relayKey carries the captured parameters of the jobs a relay inserts.
type relayKey struct{}

// outboxRelay is the only insert middleware of the relay's River client:
// it puts back, under River's insert, the parameters captured at enqueue.
type outboxRelay struct{ river.MiddlewareDefaults }

func (*outboxRelay) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	src, ok := ctx.Value(relayKey{}).([]rivertype.JobInsertParams)
	if !ok || len(src) != len(params) {
		return nil, errors.New("tenantkit: a relay insert without its captured jobs")
	}
	for i := range params {
		*params[i] = src[i]
	}
	return doInner(ctx)
}

// enqueueTx captures the job River would insert for args and o, gives it
// an id and writes it to the outbox in jt.
func (j *jobRunner) enqueueTx(ctx context.Context, jt *jobTx, args river.JobArgs, o *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	var captured []*rivertype.JobInsertParams
	if _, err := j.client.InsertTx(context.WithValue(ctx, captureKey{}, &captured), jt.Tx, args, o); err != nil {
		return nil, err
	}
	if len(captured) != 1 {
		return nil, errors.New("tenantkit: EnqueueTx: River's insert middleware did not reach the outbox")
	}
	p := paramsOf(captured[0])
	enc, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	key := router.Key{Cluster: jt.target.Cluster, Database: jt.target.Database}
	if err := j.mark(ctx, key); err != nil {
		return nil, err
	}
	id, err := j.ids.next(ctx, j)
	if err != nil {
		return nil, err
	}
	if _, err := jt.Tx.Exec(ctx, "INSERT INTO tenantkit.job_outbox (job_id, tenant_id, params) VALUES ($1, $2, $3)",
		id, jt.target.Tenant, string(enc)); err != nil { // text: bytes would be sent as bytea without prepared statements
		return nil, fmt.Errorf("tenantkit: EnqueueTx: %w", err)
	}
	jt.ids = append(jt.ids, id)
	now := time.Now()
	row := &rivertype.JobRow{
		ID: id, Attempt: 0, CreatedAt: now, EncodedArgs: p.Args, Kind: p.Kind, MaxAttempts: p.MaxAttempts,
		Metadata: p.Metadata, Priority: p.Priority, Queue: p.Queue, ScheduledAt: now, State: p.State, Tags: p.Tags,
		UniqueKey: p.UniqueKey,
	}
	if p.ScheduledAt != nil {
		row.ScheduledAt = *p.ScheduledAt
	}
	return &rivertype.JobInsertResult{Job: row}, nil
}

// idPool hands out River job ids drawn from River's sequence a block at a
// time: an id costs the enqueue no round trip but one in idBlock.
type idPool struct {
	mu  sync.Mutex
	ids []int64
}

const idBlock = 64

func (p *idPool) next(ctx context.Context, j *jobRunner) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		rows, err := j.k.pool.Query(ctx, "SELECT nextval('"+jobs.Schema+".river_job_id_seq') FROM generate_series(1, $1)", idBlock)
		if err != nil {
			return 0, fmt.Errorf("tenantkit: EnqueueTx: draw job ids: %w", err)
		}
		if p.ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return 0, fmt.Errorf("tenantkit: EnqueueTx: draw job ids: %w", err)
		}
	}
	id := p.ids[0]
	p.ids = p.ids[1:]
	return id, nil
}

// markTTL is how long a process's marks outlive its last round: past it,
// the process is taken for dead and others relay what it left.
func (j *jobRunner) markTTL() time.Duration {
	return max(5*j.cfg.ReconcileInterval, 2*time.Second)
}

// mark records, before the first job this process enqueues in key's
// database can commit, that it may leave outbox rows there.
func (j *jobRunner) mark(ctx context.Context, key router.Key) error {
	j.mu.Lock()
	done := j.marked[key]
	j.mu.Unlock()
	if done {
		return nil
	}
	if _, err := j.k.pool.Exec(ctx, `
		INSERT INTO tenantkit.job_outbox_marks (instance, cluster, database, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval)
		ON CONFLICT (instance, cluster, database) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
		j.instance, key.Cluster, key.Database, j.markTTL()); err != nil {
		return fmt.Errorf("tenantkit: EnqueueTx: mark the outbox of %s/%s: %w", key.Cluster, key.Database, err)
	}
	j.mu.Lock()
	j.marked[key] = true
	j.mu.Unlock()
	return nil
}

// relayItem is the jobs one committed transaction wrote to the outbox.
type relayItem struct {
	key    router.Key
	tenant uuid.UUID
	ids    []int64
}

// queue hands it to the relay; when the relay is behind by a full buffer,
// the caller relays it itself rather than wait.
func (j *jobRunner) queue(it relayItem) {
	select {
	case j.relays <- it:
	default:
		j.relayBatch([]relayItem{it})
	}
}

// relayLoop relays committed transactions' jobs in batches as they come,
// and runs a round every ReconcileInterval, until the Kit closes; then it
// relays what is queued and, when nothing is left behind, removes its
// marks.
func (j *jobRunner) relayLoop() {
	defer close(j.stopped)
	tick := time.NewTicker(j.cfg.ReconcileInterval)
	defer tick.Stop()
	for {
		var first relayItem
		select {
		case first = <-j.relays:
		case <-tick.C:
			j.round()
			continue
		case <-j.stop:
			j.drain()
			return
		}
		batch := []relayItem{first}
	more:
		for len(batch) < 256 {
			select {
			case it := <-j.relays:
				batch = append(batch, it)
			default:
				break more
			}
		}
		j.relayBatch(batch)
	}
}

// drain relays what is queued as the Kit closes, and removes this
// process's marks when it leaves nothing behind.
func (j *jobRunner) drain() {
	var batch []relayItem
	for {
		select {
		case it := <-j.relays:
			batch = append(batch, it)
			continue
		default:
		}
		break
	}
	if len(batch) > 0 {
		j.relayBatch(batch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j.sweepOwn(ctx)
	j.mu.Lock()
	left := len(j.sweep) > 0
	j.mu.Unlock()
	if left || j.dead.Load() {
		return
	}
	if _, err := j.k.pool.Exec(ctx, "DELETE FROM tenantkit.job_outbox_marks WHERE instance = $1", j.instance); err != nil {
		j.k.log.Warn("tenantkit: remove this process's outbox marks; they expire", "err", err)
	}
}

// relayBatch relays the jobs of a batch of committed transactions, one
// database at a time. A database whose relay fails is relayed whole on
// the next round.
func (j *jobRunner) relayBatch(batch []relayItem) {
	byDB := map[router.Key]map[uuid.UUID][]int64{}
	for _, it := range batch {
		if byDB[it.key] == nil {
			byDB[it.key] = map[uuid.UUID][]int64{}
		}
		byDB[it.key][it.tenant] = append(byDB[it.key][it.tenant], it.ids...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for key, ids := range byDB {
		if _, err := j.relay(ctx, key, ids, false); err != nil {
			j.k.log.Warn("tenantkit: relay jobs to River; retried on the next round",
				"cluster", key.Cluster, "database", key.Database, "err", err)
			j.mu.Lock()
			j.sweep[key] = true
			j.mu.Unlock()
		}
	}
}

// round is what runs every ReconcileInterval: keep this process's marks
// alive, relay the outboxes its own relays failed in, and those of
// processes whose marks expired.
func (j *jobRunner) round() {
	if j.dead.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(j.cfg.ReconcileInterval, 10*time.Second))
	defer cancel()
	if err := j.keepMarks(ctx); err != nil {
		j.k.log.Warn("tenantkit: keep this process's outbox marks alive", "err", err)
	}
	j.sweepOwn(ctx)
	if err := j.sweepDead(ctx); err != nil {
		j.k.log.Warn("tenantkit: relay jobs other processes left", "err", err)
	}
}

// keepMarks pushes this process's marks' expiry on, and writes them again
// when some are gone (taken for a dead process's while this one stalled).
func (j *jobRunner) keepMarks(ctx context.Context) error {
	j.mu.Lock()
	keys := make([]router.Key, 0, len(j.marked))
	for k := range j.marked {
		keys = append(keys, k)
	}
	j.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	tag, err := j.k.pool.Exec(ctx, "UPDATE tenantkit.job_outbox_marks SET expires_at = now() + $2::interval WHERE instance = $1",
		j.instance, j.markTTL())
	if err != nil || tag.RowsAffected() >= int64(len(keys)) {
		return err
	}
	clusters, dbs := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		clusters[i], dbs[i] = k.Cluster, k.Database
	}
	_, err = j.k.pool.Exec(ctx, `
		INSERT INTO tenantkit.job_outbox_marks (instance, cluster, database, expires_at)
		SELECT $1, c, d, now() + $4::interval FROM unnest($2::text[], $3::text[]) AS m(c, d)
		ON CONFLICT (instance, cluster, database) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
		j.instance, clusters, dbs, j.markTTL())
	return err
}

// sweepOwn relays the whole outbox of each database where this process's
// relay failed or a commit's outcome was lost.
func (j *jobRunner) sweepOwn(ctx context.Context) {
	j.mu.Lock()
	keys := make([]router.Key, 0, len(j.sweep))
	for k := range j.sweep {
		keys = append(keys, k)
	}
	j.mu.Unlock()
	for _, key := range keys {
		if err := j.sweepDB(ctx, key); err != nil {
			j.k.log.Warn("tenantkit: relay jobs to River; retried on the next round",
				"cluster", key.Cluster, "database", key.Database, "err", err)
			continue
		}
		j.mu.Lock()
		delete(j.sweep, key)
		j.mu.Unlock()
	}
}

// sweepDead relays the outboxes of databases marked by processes whose
// marks expired, then removes those marks.
func (j *jobRunner) sweepDead(ctx context.Context) error {
	rows, err := j.k.pool.Query(ctx, `
		SELECT cluster, database, array_agg(instance)
		FROM tenantkit.job_outbox_marks WHERE expires_at < now()
		GROUP BY cluster, database ORDER BY cluster, database LIMIT 100`)
	if err != nil {
		return err
	}
	type dead struct {
		key       router.Key
		instances []uuid.UUID
	}
	var list []dead
	var d dead
	if _, err := pgx.ForEachRow(rows, []any{&d.key.Cluster, &d.key.Database, &d.instances}, func() error {
		list = append(list, d)
		return nil
	}); err != nil {
		return err
	}
	var errs []error
	for _, d := range list {
		if err := j.sweepDB(ctx, d.key); err != nil {
			errs = append(errs, fmt.Errorf("database %s of cluster %s: %w", d.key.Database, d.key.Cluster, err))
			continue
		}
		if _, err := j.k.pool.Exec(ctx, `
			DELETE FROM tenantkit.job_outbox_marks
			WHERE cluster = $1 AND database = $2 AND instance = ANY($3) AND expires_at < now()`,
			d.key.Cluster, d.key.Database, d.instances); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepDB relays the whole outbox of one database, a page per tenant at a
// time, checking River for jobs a relay already inserted.
func (j *jobRunner) sweepDB(ctx context.Context, key router.Key) error {
	pool, release, err := j.k.router.Acquire(ctx, key)
	if err != nil {
		return err
	}
	rows, err := pool.Query(ctx, "SELECT tenantkit.job_outbox_tenants()")
	release()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		// The database is gone (a move's cleanup dropped it), and its
		// outbox with it: there is nothing left to relay.
		j.k.log.WarnContext(ctx, "tenantkit: the outbox of a database that no longer exists is forgotten",
			"cluster", key.Cluster, "database", key.Database)
		return nil
	}
	if err != nil {
		return err
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	for len(tenants) > 0 {
		n := min(len(tenants), 50)
		page := map[uuid.UUID][]int64{}
		for _, t := range tenants[:n] {
			page[t] = nil
		}
		moved, err := j.relay(ctx, key, page, true)
		if err != nil {
			return err
		}
		if moved < outboxPage {
			tenants = tenants[n:]
		}
	}
	return nil
}

// outboxPage is how many of a tenant's rows a sweep takes at once.
const outboxPage = 1000

// relay moves outbox rows of one database to River: for each tenant of
// ids, its rows of the listed ids that are still there, or, in a sweep
// (ids[t] nil), up to outboxPage of them. The rows are deleted in a
// transaction of the data database that commits after River's insert
// does; a sweep first leaves out the jobs River already has. It returns
// how many rows it took from the busiest tenant.
func (j *jobRunner) relay(ctx context.Context, key router.Key, ids map[uuid.UUID][]int64, sweep bool) (int, error) {
	pool, release, err := j.k.router.Acquire(ctx, key)
	if err != nil {
		return 0, err
	}
	defer release()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tenants := make([]uuid.UUID, 0, len(ids))
	b := &pgx.Batch{}
	for t, list := range ids {
		tenants = append(tenants, t)
		b.Queue("SELECT pg_catalog.set_config('tenantkit.tenant_id', $1, true)", t.String())
		if list == nil {
			b.Queue(`DELETE FROM tenantkit.job_outbox WHERE job_id IN (
				SELECT job_id FROM tenantkit.job_outbox WHERE tenant_id = $1 ORDER BY job_id LIMIT $2)
				RETURNING job_id, params`, t, outboxPage)
		} else {
			b.Queue("DELETE FROM tenantkit.job_outbox WHERE tenant_id = $1 AND job_id = ANY($2) RETURNING job_id, params", t, list)
		}
	}
	br := tx.SendBatch(ctx, b)
	type taken struct {
		id     int64
		params outboxParams
	}
	var all []taken
	most := 0
	for range tenants {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return 0, err
		}
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return 0, err
		}
		var t taken
		n, err := pgx.ForEachRow(rows, []any{&t.id, &t.params}, func() error {
			all = append(all, t)
			t = taken{}
			return nil
		})
		if err != nil {
			_ = br.Close()
			return 0, err
		}
		most = max(most, int(n.RowsAffected()))
	}
	if err := br.Close(); err != nil {
		return 0, err
	}
	if len(all) > 0 {
		if err := pgx.BeginFunc(ctx, j.k.pool, func(ctx2 pgx.Tx) error {
			have := map[int64]bool{}
			if sweep {
				idList := make([]int64, len(all))
				for i, t := range all {
					idList[i] = t.id
				}
				rows, err := ctx2.Query(ctx, "SELECT id FROM "+jobs.Schema+".river_job WHERE id = ANY($1)", idList)
				if err != nil {
					return err
				}
				found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				if err != nil {
					return err
				}
				for _, id := range found {
					have[id] = true
				}
			}
			var params []rivertype.JobInsertParams
			var args []river.InsertManyParams
			for _, t := range all {
				if have[t.id] {
					continue
				}
				params = append(params, t.params.insert(t.id))
				args = append(args, river.InsertManyParams{Args: kindArgs(t.params.Kind)})
			}
			if len(params) == 0 {
				return nil
			}
			_, err := j.relayClient.InsertManyTx(context.WithValue(ctx, relayKey{}, params), ctx2, args)
			return err
		}); err != nil {
			return 0, err
		}
	}
	return most, tx.Commit(ctx)
}
