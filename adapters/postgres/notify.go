package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of a KeyChanges listener whose connection dropped.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// KeyChanges implements keys.ChangeNotifier. It opens a dedicated connection
// (outside the pool) that runs LISTEN jwtauth_keys and returns a channel that
// receives a value after every notification ApplyKeys sends, from this
// instance or any other; bursts are coalesced into one value. It also sends
// a value each time the listener (re)connects, since changes made while it
// was not listening are otherwise lost. When the connection drops, it
// reconnects with exponential backoff (100 ms to 5 s) and logs the outage
// once through slog.Default(); keys.Manager.Run keeps polling meanwhile. The
// channel is closed when ctx ends or the store is closed.
func (s *Store) KeyChanges(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	s.wg.Add(1)
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.bg, cancel)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		defer cancel()
		defer stop()
		s.listenLoop(ctx, ch)
	}()
	return ch
}

// listenLoop keeps a LISTEN connection up until ctx ends.
func (s *Store) listenLoop(ctx context.Context, ch chan<- struct{}) {
	backoff := listenMinBackoff
	down := false
	for {
		err := s.listenOnce(ctx, ch, func() {
			backoff = listenMinBackoff
			if down {
				slog.Info("postgres: key change listener reconnected", "db", s.target)
				down = false
			}
		})
		if ctx.Err() != nil {
			return
		}
		if !down {
			slog.Warn("postgres: key change listener lost its connection; reconnecting, key changes are picked up by polling meanwhile",
				"db", s.target, "err", err)
			down = true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOnce connects, LISTENs, calls up, signals once and then once per
// notification until the connection fails or ctx ends.
func (s *Store) listenOnce(ctx context.Context, ch chan<- struct{}, up func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.listen.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	up()
	signal(ch)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal(ch)
	}
}

// signal sends on ch unless a value is already pending.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
