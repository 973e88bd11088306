#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io if dockerd is missing,
# start dockerd in the background if none runs, and wait until it answers.
set -euo pipefail
docker_cmd() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }
if docker_cmd; then
  exit 0
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v dockerd >/dev/null; then
  $sudo apt-get update -q && $sudo apt-get install -y -q docker.io
fi
if ! pgrep -x dockerd >/dev/null; then
  $sudo sh -c 'nohup dockerd >/var/log/synth-dockerd.log 2>&1 &'
fi
for _ in $(seq 60); do
  docker_cmd && exit 0
  sleep 1
done
echo "dockerd did not answer within 60 s; its log: /var/log/synth-dockerd.log" >&2
tail -n 20 /var/log/synth-dockerd.log >&2 || true
exit 1
