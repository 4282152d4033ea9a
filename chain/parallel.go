package chain

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// forEach runs fn for each item with at most parallel calls in flight and
// returns the results in item order. The first error cancels the rest.
// Esplora has no batching, so its multi-item reads (scripts, blocks,
// transactions) all go through here.
func forEach[I, T any](ctx context.Context, parallel int, items []I, fn func(context.Context, I) (T, error)) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]T, len(items))
	errs := make([]error, len(items))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, item := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], errs[i] = fn(ctx, item)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// Report the first real failure, not the cancellations it caused.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("chain: Esplora requests stopped: %w", err)
	}
	return results, nil
}
