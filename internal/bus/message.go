package bus

import "encoding/json"

// Channel is the PostgreSQL NOTIFY channel and the Redis pub/sub channel.
const Channel = "tenantkit_invalidate"

// Message names what changed in the catalog. The catalog's triggers build
// the same JSON for NOTIFY.
type Message struct {
	// Tenant is the id (uuid text) of the tenant whose context changed.
	Tenant string `json:"tenant,omitempty"`
	// Slugs are slugs whose mapping may have changed (old and new).
	Slugs []string `json:"slugs,omitempty"`
	// Hosts are custom domains whose mapping may have changed.
	Hosts []string `json:"hosts,omitempty"`
	// All asks to drop every cached entry (a plan changed, say).
	All bool `json:"all,omitempty"`
	// Flags asks to reload the feature-flag snapshot.
	Flags bool `json:"flags,omitempty"`
	// DrainEpoch, when set, says that a move's cutover is about to fence
	// Tenant at every placement epoch older than it: processes give up
	// their connections' session bindings to the tenant there (the cutover
	// waits for them) for DrainSeconds, or until they see the new epoch.
	DrainEpoch   int64   `json:"drain_epoch,omitempty"`
	DrainSeconds float64 `json:"drain_seconds,omitempty"`
}

// Decode parses a message payload.
func Decode(payload string) (Message, error) {
	var m Message
	err := json.Unmarshal([]byte(payload), &m)
	return m, err
}

// Encode renders a message payload.
func (m Message) Encode() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// Handler receives messages. Reset is called after every (re)connection,
// when messages may have been missed: drop everything.
type Handler interface {
	Invalidate(Message)
	Reset()
}
