#!/usr/bin/env bash
# net.sh: five antnet hosts on one Linux machine, each in its own network
# namespace, wired to a bridge in a "switch" namespace by a veth pair:
#
#   $NS-h1 eth0 10.77.0.1/24 ──┐
#   $NS-h2 eth0 10.77.0.2/24 ──┤  $NS-sw: bridge br0, ports h1..h5
#   ...                        │
#   $NS-h5 eth0 10.77.0.5/24 ──┘
#
# Host hN runs peer hN listening on 10.77.0.N:12345; h1 is the bootstrap
# the others are given. Nothing is done in the root namespace but create
# and delete the named namespaces (root, and ip from iproute2, needed).
#
#   net.sh up [PEER-BINARY]  network, and a peer in every host (built from
#                            ./examples/peer when no binary is given)
#   net.sh say hN COMMAND    type a command at hN's console (peers, send h3 hi, broadcast hi…)
#   net.sh log hN            follow hN's output
#   net.sh cut hN | heal hN  unplug hN's cable at the switch, plug it back
#                            (prints the time it did, in Unix seconds)
#   net.sh down              stop the peers, delete the namespaces (logs stay)
#   net.sh net               the network only, no peers
#   net.sh layout            one line per host: name namespace address bootstrap (- for none)
#
# Environment: ANTNET_NS (namespace prefix, default antnet), ANTNET_DIR
# (fifos, logs and pids, default /tmp/$ANTNET_NS), PEER_FLAGS (extra peer
# flags, default "-keepalive 1s -dead-peer 3s -log warn").
# Attach a shell or a peer of your own to a host with
#   sudo ip netns exec antnet-h1 bash
set -euo pipefail

NS=${ANTNET_NS:-antnet}
DIR=${ANTNET_DIR:-/tmp/$NS}
HOSTS=5
NET=10.77.0
PORT=12345
SW=$NS-sw
PEER_FLAGS=${PEER_FLAGS:--keepalive 1s -dead-peer 3s -log warn}

hosts() { for i in $(seq 1 $HOSTS); do echo "h$i"; done; }
addr() { echo "$NET.${1#h}:$PORT"; }
bootstrap() { if [ "$1" = h1 ]; then echo -; else echo "h1@$(addr h1)"; fi; }
host() { # checks a host name
	case "$1" in h[1-9]) [ "${1#h}" -le $HOSTS ] && return ;; esac
	echo "net.sh: no host $1 (h1..h$HOSTS)" >&2
	exit 2
}

layout() {
	for h in $(hosts); do echo "$h $NS-$h $(addr "$h") $(bootstrap "$h")"; done
}

net() {
	down >/dev/null 2>&1 || true
	ip netns add "$SW"
	ip -n "$SW" link set lo up
	ip -n "$SW" link add br0 type bridge
	ip -n "$SW" link set br0 up
	for h in $(hosts); do
		ip netns add "$NS-$h"
		ip -n "$NS-$h" link set lo up
		# both ends made in the switch namespace, one moved to the host's:
		# the root namespace never holds either
		ip -n "$SW" link add "$h" type veth peer name eth0 netns "$NS-$h"
		ip -n "$SW" link set "$h" master br0 up
		ip -n "$NS-$h" addr add "$NET.${h#h}/24" dev eth0
		ip -n "$NS-$h" link set eth0 up
	done
}

up() {
	net
	local bin=${1:-}
	mkdir -p "$DIR"
	if [ -z "$bin" ]; then
		bin=$DIR/peer
		(cd "$(dirname "$0")/../.." && go build -o "$bin" ./examples/peer)
	fi
	for h in $(hosts); do
		local fifo=$DIR/$h.in boot
		rm -f "$fifo" && mkfifo "$fifo"
		boot=()
		[ "$(bootstrap "$h")" = - ] || boot=(-bootstrap "$(bootstrap "$h")")
		# stdin opened read-write: the console never sees end of input
		# shellcheck disable=SC2086
		ip netns exec "$NS-$h" "$bin" -i -name "$h" -listen "$(addr "$h")" "${boot[@]}" $PEER_FLAGS \
			<>"$fifo" >"$DIR/$h.log" 2>&1 &
		echo $! >"$DIR/$h.pid"
	done
	echo "5 hosts up. Try: $0 say h2 peers | $0 cut h3 | $0 heal h3 | $0 log h1 | $0 down"
}

say() {
	local h=$1
	shift
	local log=$DIR/$h.log size
	size=$(stat -c %s "$log")
	echo "$*" >"$DIR/$h.in"
	sleep 0.5
	tail -c +$((size + 1)) "$log"
}

down() {
	for h in $(hosts); do
		if [ -f "$DIR/$h.pid" ]; then
			kill "$(cat "$DIR/$h.pid")" 2>/dev/null || true
		fi
		# anything else still running in the host (a peer a test started)
		if [ -e "/run/netns/$NS-$h" ]; then
			for pid in $(ip netns pids "$NS-$h"); do kill "$pid" 2>/dev/null || true; done
			ip netns del "$NS-$h"
		fi
	done
	if [ -e "/run/netns/$SW" ]; then
		ip netns del "$SW"
	fi
	rm -f "$DIR"/h*.in "$DIR"/h*.pid
}

case "${1:-}" in
net) net ;;
up) up "${2:-}" ;;
down) down ;;
layout) layout ;;
cut | heal)
	host "$2"
	# the time just before the change, in seconds since 1970 (so a test
	# can measure from it)
	echo "$1 $2 at ${EPOCHREALTIME:-$(date +%s.%N)}"
	if [ "$1" = cut ]; then ip -n "$SW" link set "$2" down; else ip -n "$SW" link set "$2" up; fi
	;;
say) host "$2" && say "$2" "${@:3}" ;;
log) host "$2" && tail -f "$DIR/$2.log" ;;
*)
	sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 2
	;;
esac
