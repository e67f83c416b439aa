package engine

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/testkit"
)

// TestDebugLinesNameThePeer: the per-link debug lines build the peer's name
// only when written (remoteName), and then write it in full.
func TestDebugLinesNameThePeer(t *testing.T) {
	var out testkit.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startNode(t, "a", echo, WithLogger(log))
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	want := "peer=" + b.ID().String()
	eventually(t, 5*time.Second, "a logs peer up naming b", func() bool {
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, `msg="peer up"`) && strings.Contains(line, want) {
				return true
			}
		}
		return false
	})
}
