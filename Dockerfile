# kerid: one image for every role; pick it with the flag:
#   docker run -v kerid-db:/app/db -p 3232:3232 kerid --role witness -c witness.yml
# Same layout as THCLab's keriox images: WORKDIR /app, config files in /app,
# database in the /app/db volume.

FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc meson ninja-build pkg-config libc6-dev \
        libuv1-dev libsodium-dev libsqlite3-dev libcyaml-dev libyaml-dev libjansson-dev \
        node-llhttp librust-blake3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY include include
COPY src src
COPY subprojects subprojects
COPY tests tests
COPY bench bench
RUN meson setup /build --buildtype=release -Dtests=disabled \
    && ninja -C /build src/kerid \
    && strip /build/src/kerid

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        libuv1 libsodium23 libsqlite3-0 libcyaml1 libyaml-0-2 libjansson4 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin kerid \
    && mkdir -p /app/db && chown -R kerid:kerid /app
COPY --from=build /build/src/kerid /usr/local/bin/kerid
COPY examples/docker/witness.yml examples/docker/watcher.yml /app/
WORKDIR /app
USER kerid
VOLUME ["/app/db"]
EXPOSE 3232 3235
ENTRYPOINT ["/usr/local/bin/kerid"]
CMD ["--role", "witness", "-c", "witness.yml"]
