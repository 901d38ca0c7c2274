# The old way, kept only as what `npm run bench` compares against; never shipped.
#
# Written like IOPaint's old docker/CPUDockerfile: one stage, the runtime libraries installed
# together with build tools in one apt step, pip straight into the image that runs, no ignore
# rules. Building from source (the old file installed the published package) also needs Node,
# so it is installed and the front end built in the same image, as a single-stage file must.
#
# Built offline like the generated docker/Dockerfile: the bench passes the fixture's base image
# and wheelhouse indexes as build args, and apt reads a local archive of the same Debian packages
# (made on the host by scripts/bench/baseline.ts) where the old file used the network.
ARG BASE_IMAGE=iopaint-standin/python:3.11-bookworm
# Named only so that BuildKit's progress lines carry a stage name, as the bench reads them.
FROM ${BASE_IMAGE} AS oldway

ARG RUNTIME_PACKAGES="libsm6 libxext6"
ARG BUILD_PACKAGES="software-properties-common curl gcc build-essential"
ARG NODE_PACKAGES="nodejs npm"
# apt.conf in the archive image points apt at that archive only (the base image's mirror is unreachable).
RUN --mount=type=bind,from=iopaint-bench/baseline-packages:current,target=/mnt/packages \
    export APT_CONFIG=/mnt/packages/apt.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $RUNTIME_PACKAGES $BUILD_PACKAGES $NODE_PACKAGES \
 && rm -rf /var/lib/apt/lists/*

# python:*-slim ships pip; the stand-in base does not, and Debian's Python refuses system-wide
# installs, so a virtualenv plays the part of the image's own pip.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

ARG TORCH_INDEX_URL=file:///opt/wheelhouse/cpu
ARG PIP_INDEX_URL=file:///opt/wheelhouse/pypi
ARG TORCH_VERSION=2.1.2
ARG TORCHVISION_VERSION=0.16.2
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

WORKDIR /app
COPY . /app
RUN cd web_app \
 && npm ci \
 && npm run build \
 && mkdir -p ../iopaint/web_app \
 && cp -r dist/. ../iopaint/web_app/
RUN pip install --index-url "$PIP_INDEX_URL" .

EXPOSE 8080
CMD ["bash"]
