# syntax=docker/dockerfile:1
# SPDX-License-Identifier: Apache-2.0
#
# fleet-ilb controller image. Node 24 runs the TypeScript sources directly (type stripping), so there
# is no build step: stage 1 installs the production dependencies from the lockfile, stage 2 copies
# them with controller/, crds/ and package.json onto a distroless Node 24 runtime (no shell, no
# package manager) that runs as uid/gid 65532 and needs no writable filesystem.
#
#   docker build -t REGISTRY/fleet-ilb:TAG .
#
# Pin both base images by digest in release builds (--build-arg BUILD_IMAGE=...@sha256:...).
ARG BUILD_IMAGE=node:24-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot

FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# Exactly the lockfile, production dependencies only (node@24 and the tooling are devDependencies).
# No install scripts: the only production package with one is protobufjs, whose postinstall only
# prints a version-scheme warning.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# V8 heap limits (deploy/README.md "Memory" has the figures; `npm run bench:scale` starts its
# controller with this line's flags). Without them Node 24 sizes the heap from the machine's memory
# (old space up to ~4 GB, semi-spaces of 64 MB) and lets a controller whose live heap is 135-250 MB
# grow to 1.5 GB RSS before it collects. Semi-spaces of 8 MB (young generation 24 MB) instead of
# 16: ~30 MiB less peak RSS at 300 Gateways for ~7 % more CPU (more scavenges). The Deployment's
# memory limit sits above the caps; to raise them, set NODE_OPTIONS in the Pod spec.
ENV NODE_OPTIONS="--max-old-space-size=320 --max-semi-space-size=8"
# glibc malloc: at most 2 arenas. By default every thread that mallocs (V8's compiler and GC
# helpers, libuv's pool) may get an arena of its own, up to 8 per core, each holding freed memory
# for reuse; 2 cut the controller's RSS by ~20 MiB at 100 Gateways in bench:scale (which reads this
# line too). https://man7.org/linux/man-pages/man3/mallopt.3.html (M_ARENA_MAX)
ENV MALLOC_ARENA_MAX=2
# Files stay owned by root and read-only for the runtime user: the process cannot modify its code.
COPY --from=deps /app/node_modules ./node_modules
# package.json gives Node "type": "module"; the lockfile lets image scanners see exact versions.
COPY package.json package-lock.json ./
COPY controller/ ./controller/
COPY crds/ ./crds/
USER 65532:65532
EXPOSE 8080
# /nodejs/bin/node is the distroless image's node; the Deployment passes only flags.
ENTRYPOINT ["/nodejs/bin/node", "controller/cli.ts", "controller"]
