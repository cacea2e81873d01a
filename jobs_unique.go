package tenantkit

import (
	"context"
	"crypto/sha256"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// tenantUnique is the River insert middleware that makes unique jobs
// unique per tenant: River's unique key covers the kind, the args, the
// period, the queue, not the metadata where the tenant is, so two tenants
// enqueuing the same args would otherwise make the second a duplicate of
// the first. The tenant's id is hashed into the key River computed.
type tenantUnique struct {
	river.MiddlewareDefaults
}

func (*tenantUnique) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	for _, p := range params {
		if p.UniqueKey == nil {
			continue
		}
		var meta struct {
			Tenant string `json:"tenant_id"`
		}
		if json.Unmarshal(p.Metadata, &meta) != nil || meta.Tenant == "" {
			continue
		}
		h := sha256.New()
		h.Write(p.UniqueKey)
		h.Write([]byte("&tenant=" + meta.Tenant))
		p.UniqueKey = h.Sum(nil)
	}
	return doInner(ctx)
}
