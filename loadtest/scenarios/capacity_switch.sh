#!/usr/bin/env bash
# Prints a switch configuration for capacity runs with AGENTS agent accounts
# (extensions 2000, 2001, ...; password load-EXT) in the `support` queue,
# which records every call; 100 is the press-1 menu that queues at once, and
# the agents' extensions take direct (relayed) calls from the trusted trunk.
#   loadtest/scenarios/capacity_switch.sh 500 > loadtest/scenarios/capacity_switch.toml
#   loadtest/scenarios/capacity_switch.sh 3200 > capacity_switch_3200.toml
set -euo pipefail
AGENTS=${1:?number of agents}
last=$((2000 + AGENTS - 1))
cat <<HEAD
# A switch for capacity runs through IVR + queue + agent + recording, with
# $AGENTS agent accounts (2000-$last, password load-EXT) in one queue.
# Made by loadtest/scenarios/capacity_switch.sh $AGENTS. From the repository
# root:
#   switchboard serve --config loadtest/scenarios/capacity_switch.toml
#   switchboard-loadtest loadtest/scenarios/capacity.toml --search 10,10,30,300 --max-failed 0.1%
# Recordings and call records go under target/ (git-ignored).
# RTP ports stay below Linux's ephemeral range (32768+), where the tester's
# own RTP sockets are.

[sip]
listen_udp = ["127.0.0.1:15060"]
listen_tcp = ["127.0.0.1:15060"]
domain = "127.0.0.1"
max_calls = 20000

[media]
rtp_port_first = 10000
rtp_port_last = 31999
rtp_address = "127.0.0.1"

[registrar]
min_expires = 60

[http]
listen = "127.0.0.1:18080"

[[http.tokens]]
name = "loadtest"
scope = "control"
token = "loadtest-control-token"
HEAD
list=""
for ext in $(seq 2000 "$last"); do
    printf '\n[[agents]]\nextension = "%s"\nname = "Load agent %s"\npassword = "load-%s"\n' "$ext" "$ext" "$ext"
    list+="${list:+, }\"$ext\""
done
cat <<TAIL

[[trunks]]
name = "loadtest"
addresses = ["127.0.0.1"]

[[routes]]
number = "100"
flow = "loadtest/scenarios/press1_queue.yaml"

[ivr]
prompts = "prompts"

[[queues]]
name = "support"
agents = [$list]
strategy = "longest_idle"
wrap_up_secs = 2
ring_timeout_secs = 15
max_length = 20000

[recording]
dir = "target/loadtest-recordings"
default = "never"

[recording.queues.support]
recording = "always"

[storage]
path = "target/loadtest-capacity.db"

[log]
level = "warn"
TAIL
