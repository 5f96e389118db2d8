#!/bin/sh
# topology.sh up|down|status: the demo network that the appliance runs in,
# whether it is the hosted board or the image booted in QEMU.
#
#   bp-client (10.77.0.10) --veth--+
#                                  +-- br0 in bp-hub --+-- tap bp0 (N queues) -- appliance 10.77.0.2
#   bp-backend (10.77.0.20) -veth--+
#
# The appliance attaches to the persistent multiqueue TAP "bp0" inside the
# namespace bp-hub; nginx listens on 10.77.0.20:8080 inside bp-backend.
# Every name can be overridden from the environment, so that tests and
# users can run several topologies side by side.
set -eu

PREFIX=${BP_PREFIX:-bp}
QUEUES=${BP_QUEUES:-2}
HUB=$PREFIX-hub
CLIENT=$PREFIX-client
BACKEND=$PREFIX-backend
TAP=${BP_TAP:-${PREFIX}0}
NGINX_DIR=${BP_NGINX_DIR:-/tmp/$PREFIX-nginx}

up() {
	ip netns add "$HUB"
	ip netns add "$CLIENT"
	ip netns add "$BACKEND"
	ip -n "$HUB" link set lo up
	ip -n "$CLIENT" link set lo up
	ip -n "$BACKEND" link set lo up
	ip -n "$HUB" link add br0 type bridge
	# Where br_netfilter is loaded, bridged IPv4 goes through iptables and
	# frames with bad IPv4 headers are dropped before they reach the TAP.
	# The bridge stands for a switch: it forwards frames as they are.
	for t in iptables ip6tables arptables; do
		ip netns exec "$HUB" sh -c "echo 0 >/proc/sys/net/bridge/bridge-nf-call-$t" 2>/dev/null || true
	done
	ip -n "$HUB" link set br0 up
	ip -n "$HUB" tuntap add dev "$TAP" mode tap multi_queue
	ip -n "$HUB" link set "$TAP" master br0 up
	# Interface names have at most 15 characters: name the hub's ends
	# after the prefix, not after the namespaces.
	for end in c:"$CLIENT" b:"$BACKEND"; do
		ns=${end#*:}
		ip -n "$HUB" link add "$PREFIX-${end%%:*}" type veth peer name eth0 netns "$ns"
		ip -n "$HUB" link set "$PREFIX-${end%%:*}" master br0 up
		ip -n "$ns" link set eth0 up
	done
	ip -n "$CLIENT" addr add 10.77.0.10/24 dev eth0
	ip -n "$BACKEND" addr add 10.77.0.20/24 dev eth0
	mkdir -p "$NGINX_DIR/www"
	head -c 4096 /dev/urandom >"$NGINX_DIR/www/4k.bin"
	echo "hello from the backend" >"$NGINX_DIR/www/index.html"
	cat >"$NGINX_DIR/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	server {
		listen 10.77.0.20:8080 backlog=4096 reuseport;
		keepalive_requests 1000000;
		root $NGINX_DIR/www;
	}
}
EOF
	ip netns exec "$BACKEND" nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR"
	echo "topology up: appliance at 10.77.0.2 on $HUB/$TAP ($QUEUES queues), client in $CLIENT, nginx at 10.77.0.20:8080 in $BACKEND"
}

down() {
	if [ -f "$NGINX_DIR/nginx.pid" ]; then
		kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
	fi
	for ns in "$CLIENT" "$BACKEND" "$HUB"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$NGINX_DIR"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) ip netns list | grep "^$PREFIX-" || echo "topology $PREFIX is down" ;;
*)
	echo "usage: $0 up|down|status (environment: BP_PREFIX, BP_QUEUES, BP_TAP, BP_NGINX_DIR)" >&2
	exit 2
	;;
esac
