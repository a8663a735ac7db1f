# The CPU silo image: the `sealion` CLI with TorchSharp-cpu (libtorch 2.10 CPU), for `sealion silo` on CPU hosts or
# with `--engine sim` (simulated H100 engines), and the other verbs (init-random, bench ...). Ports: 11111 (silo),
# 30000 (Orleans client gateway), 9090 (/healthz readiness, /livez liveness, /metrics). No weights inside: mount a
# model folder (or run init-random into a volume). SIGTERM drains: the silo reports draining, lets running requests
# finish (--drain-timeout-s), then leaves the cluster. Build from the repository root:
#   docker build -f ops/images/silo-cpu.Dockerfile -t sealion-silo-cpu .
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

FROM ${SDK_IMAGE} AS build
WORKDIR /src
COPY . .
RUN dotnet publish silos/SeaLion.Cli/SeaLion.Cli.csproj -c Release -o /out --nologo -p:UseAppHost=false -p:TorchBackend=cpu \
 && rm -f /out/*.pdb

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="sealion-silo-cpu" \
      org.opencontainers.image.description="SeaLion Cluster silo (Orleans silo + TorchSharp engine, CPU) and the sealion CLI" \
      org.opencontainers.image.vendor="SeaLion Cluster"
RUN groupadd --gid 10001 sealion && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sealion
COPY --from=build /out /app
WORKDIR /app
ENV SEALION_HOME=/tmp/sealion
USER 10001:10001
EXPOSE 11111 30000 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "/app/sealion.dll"]
CMD ["help"]
