# The gateway image: gRPC (sealion.v1) on 50051, OpenAI REST, /healthz (readiness), /livez (liveness) and /metrics
# on 8080. No model runtime inside (no TorchSharp, no libtorch). Build from the repository root:
#   docker build -f ops/images/gateway.Dockerfile -t sealion-gateway .
# SDK_IMAGE / RUNTIME_IMAGE: any image with the .NET 10 SDK / ASP.NET Core 10 runtime (a local base made offline
# stands in where no registry is reachable; see ops/images/README.md).
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

FROM ${SDK_IMAGE} AS build
WORKDIR /src
COPY . .
RUN dotnet publish gateway/SeaLion.Gateway/SeaLion.Gateway.csproj -c Release -o /out --nologo -p:UseAppHost=false \
 && rm -f /out/*.pdb

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="sealion-gateway" \
      org.opencontainers.image.description="SeaLion Cluster gateway: sealion.v1 gRPC and OpenAI-compatible REST in front of an Orleans cluster of SEA-LION silos" \
      org.opencontainers.image.vendor="SeaLion Cluster"
RUN groupadd --gid 10001 sealion && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sealion
COPY --from=build /out /app
WORKDIR /app
USER 10001:10001
EXPOSE 50051 8080
# SIGTERM stops Kestrel gracefully (streams end, the Orleans client closes).
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "/app/sealion-gateway.dll"]
CMD ["--redis", "sealion-redis:6379", "--host", "0.0.0.0"]
