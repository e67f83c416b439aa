// Package gnetslog routes gnet's logging.Logger calls to a log/slog
// Logger, each line marked component=gnet. gnet's info lines are chatter
// to an application, so they go to Debug; Fatalf logs at Error and never
// exits.
package gnetslog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// Logger is a gnet logging.Logger writing to L. A line at a level L does
// not take costs one Enabled call: its format is not expanded.
type Logger struct{ L *slog.Logger }

var _ logging.Logger = Logger{}

func (g Logger) log(level slog.Level, format string, args []any) {
	if g.L.Enabled(context.Background(), level) {
		g.L.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "gnet")
	}
}

func (g Logger) Debugf(format string, args ...any) { g.log(slog.LevelDebug, format, args) }
func (g Logger) Infof(format string, args ...any)  { g.log(slog.LevelDebug, format, args) }
func (g Logger) Warnf(format string, args ...any)  { g.log(slog.LevelWarn, format, args) }
func (g Logger) Errorf(format string, args ...any) { g.log(slog.LevelError, format, args) }
func (g Logger) Fatalf(format string, args ...any) { g.log(slog.LevelError, format, args) }
