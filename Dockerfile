# cspctl in a container: the static (musl) release binary on distroless/static,
# which has CA certificates (Partner Center and Entra ID are HTTPS), a non-root
# user and nothing else: no shell, no package manager.
#
# Built by the release workflow from the binaries it already built (no Rust
# toolchain in the image build):
#   dist/linux-amd64/cspctl and dist/linux-arm64/cspctl, then
#   docker buildx build --platform linux/amd64,linux/arm64 .
FROM gcr.io/distroless/static-debian12:nonroot

ARG TARGETARCH
LABEL org.opencontainers.image.title="cspctl" \
      org.opencontainers.image.description="GitOps for Microsoft Partner Center's CSP indirect channel" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="https://github.com/cspctl/cspctl"

COPY --chmod=0755 dist/linux-${TARGETARCH}/cspctl /usr/local/bin/cspctl

# Manifests are mounted here: docker run -v "$PWD:/work" cspctl plan manifests
WORKDIR /work
# distroless's nonroot user
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cspctl"]
CMD ["--help"]
