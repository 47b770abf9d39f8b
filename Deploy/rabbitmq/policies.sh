#!/usr/bin/env bash
# Quorum-queue policies for Armada, applied once to the cluster (idempotent):
#   RABBITMQ_NODE=rabbit@rabbit-1.internal Deploy/rabbitmq/policies.sh [vhost]
# Armada's topology (armadactl topology apply) sets delivery limits, dead-lettering and
# overflow per queue as arguments; the policy adds what is per cluster: leaders of the armada.*
# quorum queues spread over the nodes (`least-leaders`; RabbitMQ 3.13 also calls it `balanced`).
# Replicas: a quorum queue is declared on every node of the cluster (three here), which is what
# Armada wants, so no size is set. Dead-letter queues are
# deliberately not capped (a cap drops or refuses letters); ArmadaNewDeadLetter alerts instead.
# `--apply-to queues`: RabbitMQ 3.10 (Debian 12) knows no `quorum_queues`; classic queues
# ignore these keys.
set -euo pipefail
VHOST="${1:-/}"
CTL=(rabbitmqctl ${RABBITMQ_NODE:+-n "$RABBITMQ_NODE"})
"${CTL[@]}" set_policy -p "$VHOST" --apply-to queues --priority 10 armada-quorum '^armada\.' \
  '{"queue-leader-locator": "least-leaders"}'
"${CTL[@]}" list_policies -p "$VHOST"
