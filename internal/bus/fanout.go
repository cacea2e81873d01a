package bus

import (
	"context"
	"errors"
)

// Publisher sends a message to every subscriber. PGPublisher and RedisBus
// are publishers.
type Publisher interface {
	Publish(ctx context.Context, m Message) error
}

// Fanout publishes each message with every publisher in it, as when
// processes are moving from one bus to another.
type Fanout []Publisher

// Publish sends m with every publisher, even after one fails, and returns
// their errors joined.
func (f Fanout) Publish(ctx context.Context, m Message) error {
	var errs []error
	for _, p := range f {
		if err := p.Publish(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
