package move

import (
	"context"
	"errors"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

func (r *Runner) work(ctx context.Context, m catalog.Move) error {
	return errors.New("move: engine not written yet")
}
