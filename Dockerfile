# syntax=docker/dockerfile:1
# The operator image: `docker build -t calico-vpc-operator:dev .` (hack/kind-up.sh does this and loads it into kind).
# Three stages so the final image holds only what runs: production node_modules, the compiled dist/ (and its bundle), the CRDs.
# test/integration/production-install.test.ts repeats the production install outside Docker and runs --help.

# Exact Node 20 release, the runtime the project is tested on (package.json engines). Override with
# --build-arg NODE_IMAGE=... (for example a digest-pinned mirror).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; no dependency has an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hack/bundle.mjs ./hack/
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# package.json is needed at runtime: its "type": "module" makes Node load dist/*.js as ES modules. node_modules
# too: the bundle leaves pino external (its transports start worker threads by file path).
COPY package.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY crds ./crds
# A numeric non-root user (the conventional "nonroot" uid), so Kubernetes can verify runAsNonRoot; the files
# above stay root-owned and read-only to it. config/manager/manager.yaml runs the pod as the same uid.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/bundle/calico-vpc.mjs"]
CMD ["run"]
