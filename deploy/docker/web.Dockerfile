# syntax=docker/dockerfile:1.7
# The browser app: built with Vite (`npm run build` → web/dist), served by nginx, which also
# proxies the APIs and the SignalR hub so the browser talks to one origin.
#   docker build -f deploy/docker/web.Dockerfile -t orderflow/web .

FROM node:22-bookworm-slim AS build
WORKDIR /web
# Lockfile first: the npm layer is reused until dependencies change.
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM nginxinc/nginx-unprivileged:1.27-alpine AS runtime
# Upstream host names are substituted at start by the image's envsubst step
# (/etc/nginx/templates/*.template → /etc/nginx/conf.d/), so the same image runs in compose and
# in Kubernetes.
ENV ORDERS_UPSTREAM=orders:8081 \
    INVENTORY_UPSTREAM=inventory:8082 \
    GATEWAY_UPSTREAMS="server gateway-1:8080; server gateway-2:8080;" \
    DEV_IDP_UPSTREAM=dev-idp:8090 \
    NGINX_ENVSUBST_FILTER="^(ORDERS|INVENTORY|GATEWAY|DEV_IDP)_"
COPY deploy/web/default.conf.template /etc/nginx/templates/default.conf.template
COPY --from=build /web/dist /usr/share/nginx/html
# nginx-unprivileged already runs as uid 101 and listens on 8080.
USER 101
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["wget", "-q", "-T", "2", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
