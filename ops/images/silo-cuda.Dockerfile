# The CUDA silo image: the `sealion` CLI with TorchSharp-cuda-linux (libtorch with CUDA) on an NVIDIA CUDA runtime
# base, for `sealion silo` on GPU hosts. It cannot be built on the development machines (their NuGet registry does
# not serve TorchSharp-cuda-linux, and no base image can be pulled there): build it on a host that reaches
# nuget.org and the registries (ops/images/README.md). Same ports, drain and entry point as silo-cpu.
#   docker build -f ops/images/silo-cuda.Dockerfile -t sealion-silo-cuda .
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG DOTNET_RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0
ARG RUNTIME_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${SDK_IMAGE} AS build
WORKDIR /src
COPY . .
RUN dotnet publish silos/SeaLion.Cli/SeaLion.Cli.csproj -c Release -o /out --nologo -p:UseAppHost=false -p:TorchBackend=cuda \
 && rm -f /out/*.pdb

FROM ${DOTNET_RUNTIME_IMAGE} AS dotnet

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="sealion-silo-cuda" \
      org.opencontainers.image.description="SeaLion Cluster silo (Orleans silo + TorchSharp engine, CUDA) and the sealion CLI" \
      org.opencontainers.image.vendor="SeaLion Cluster"
COPY --from=dotnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && groupadd --gid 10001 sealion && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sealion
COPY --from=build /out /app
WORKDIR /app
ENV SEALION_HOME=/tmp/sealion \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
EXPOSE 11111 30000 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "/app/sealion.dll"]
CMD ["help"]
