package cacheflush

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
)

// RouteClientLogs sends the Redis client's own log lines through l (structured, with the
// manager's other logs) instead of the standard library's logger.
func RouteClientLogs(l logr.Logger) { redis.SetLogger(clientLogs{l.WithName("redis-client")}) }

type clientLogs struct{ l logr.Logger }

func (c clientLogs) Printf(_ context.Context, format string, v ...any) {
	c.l.Info(fmt.Sprintf(format, v...))
}
