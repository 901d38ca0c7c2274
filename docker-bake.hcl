# Generated from config/iopaint.toml by generator/ — do not edit by hand.
# Change the config and run `npm run generate`; `npm run check` fails while this file is stale.

# Build from the repository root (buildx 0.12 or later): docker buildx bake [target|group ...]
# Targets: cpu, gpu, cpu-dev, gpu-dev. Groups: default, all, dev.
# Every variable below can be set from the environment, e.g. IOPAINT_VERSION=1.6.0 docker buildx bake all

# Release of the checkout: adds <image>:<target>-<version> beside <image>:<target>-latest, e.g. IOPAINT_VERSION=1.6.0.
variable "IOPAINT_VERSION" {
  default = ""
}

# Source revision for the org.opencontainers.image.revision label, e.g. the checkout's git commit.
variable "IOPAINT_REVISION" {
  default = ""
}

# The IOPaint checkout to build (the build context), relative to where bake runs; a path outside that directory needs --allow=fs.read=PATH on buildx 0.20 and later.
variable "IOPAINT_SRC" {
  default = "IOPaint"
}

# Image repository, with a registry when pushing (ghcr.io/you/iopaint).
variable "IOPAINT_IMAGE" {
  default = "iopaint"
}

# Empty: the builder's own platform (loadable into `docker images`); a variant that lists one platform always builds for it (gpu: linux/amd64). "release": every platform the variant lists (needs a docker-container builder and --push).
# Allowed: "", "release"; npm run bake refuses any other.
variable "IOPAINT_PLATFORMS" {
  default = ""
}

# Shared build cache: "" (the builder's own only), "gha", "registry" or "local" (ref or directory in IOPAINT_CACHE_REF). Each variant keeps its own scope. Export needs a builder that can (the containerd image store or a docker-container builder).
# Allowed: "", "gha", "registry", "local"; npm run bake refuses any other.
variable "IOPAINT_CACHE" {
  default = ""
}

# Registry repository (ghcr.io/you/iopaint-cache) or local directory (.cache/buildx) for IOPAINT_CACHE.
variable "IOPAINT_CACHE_REF" {
  default = ""
}

# Index for requirements.txt, the extra packages and the build tools: PyPI or a mirror of it.
variable "IOPAINT_PIP_INDEX_URL" {
  default = "https://pypi.org/simple"
}

# Index for torch, torchvision and xformers; {build} becomes each variant's build (cpu, cu118).
variable "IOPAINT_TORCH_INDEX_URL" {
  default = "https://download.pytorch.org/whl/{build}"
}

# npm registry for the front end's npm ci; empty: npm's default (registry.npmjs.org).
variable "IOPAINT_NPM_REGISTRY" {
  default = ""
}

# Debian mirror for the apt-get steps on Debian bases (release suite and -updates, main); empty: the base image's sources. The runtime image keeps the base's sources.
variable "IOPAINT_DEBIAN_MIRROR" {
  default = ""
}

# Ubuntu mirror for the apt-get steps on Ubuntu bases (release, -updates and -security suites, main and universe); empty: the base image's sources.
variable "IOPAINT_UBUNTU_MIRROR" {
  default = ""
}

# A PEM file of extra CA certificates (a TLS-inspecting proxy's, an internal mirror's) that npm, pip and apt trust during the build; passed as the BuildKit secret iopaint-ca, so no layer holds it.
variable "IOPAINT_CA_CERT" {
  default = ""
}

# Provenance attestation attached to each image (SLSA, made by BuildKit itself, offline): "auto" (buildx's default: mode=min where the builder can store attestations, none on the docker driver with the classic image store), "min", "max" (adds the build args and every step), or "false" for none (registry UIs list an attestation as an "unknown/unknown" platform).
# Allowed: "auto", "min", "max", "false"; npm run bake refuses any other.
variable "IOPAINT_PROVENANCE" {
  default = "auto"
}

# "true" attaches an SBOM attestation (SPDX) to each image: BuildKit runs an SBOM generator image over the image's file system, as buildx's --sbom=true does. The builder must store attestations, like provenance.
# Allowed: "false", "true"; npm run bake refuses any other.
variable "IOPAINT_SBOM" {
  default = "false"
}

# The SBOM generator image for IOPAINT_SBOM=true; empty: buildx's default (docker/buildkit-syft-scanner).
variable "IOPAINT_SBOM_GENERATOR" {
  default = ""
}

# <image>:<target>-latest, plus <image>:<target>-<IOPAINT_VERSION> when a version is set.
function "tags" {
  params = [name]
  result = concat(["${IOPAINT_IMAGE}:${name}-latest"], IOPAINT_VERSION == "" ? [] : ["${IOPAINT_IMAGE}:${name}-${IOPAINT_VERSION}"])
}

# cache-from and cache-to for one scope (a variant), from IOPAINT_CACHE and IOPAINT_CACHE_REF.
function "cache_from" {
  params = [scope]
  result = IOPAINT_CACHE == "gha" ? ["type=gha,scope=iopaint-${scope}"] : IOPAINT_CACHE == "registry" ? ["type=registry,ref=${IOPAINT_CACHE_REF}:cache-${scope}"] : IOPAINT_CACHE == "local" ? ["type=local,src=${IOPAINT_CACHE_REF}/${scope}"] : []
}

function "cache_to" {
  params = [scope]
  result = IOPAINT_CACHE == "gha" ? ["type=gha,scope=iopaint-${scope},mode=max"] : IOPAINT_CACHE == "registry" ? ["type=registry,ref=${IOPAINT_CACHE_REF}:cache-${scope},mode=max"] : IOPAINT_CACHE == "local" ? ["type=local,dest=${IOPAINT_CACHE_REF}/${scope},mode=max"] : []
}

group "default" {
  targets = ["cpu"]
}

group "all" {
  targets = ["cpu", "gpu"]
}

group "dev" {
  targets = ["cpu-dev", "gpu-dev"]
}

# Filled in by docker/metadata-action in CI (its bake-target input); empty locally.
target "docker-metadata-action" {}

# What every image shares: the checkout as context, the generated Dockerfile and the scripts it runs, shared args, attestations (provenance, an SBOM), the CA secret if one is given, OCI labels.
target "_common" {
  context = IOPAINT_SRC
  dockerfile = "cwd://docker/Dockerfile"
  contexts = {
    iopaint-helpers = "cwd://docker/helpers"
  }
  args = {
    NODE_IMAGE = "node:22-bookworm-slim"
    PYTHON_VERSION = "3.10"
    BUILDER_PIP = "pip==26.3"
    PYTHON_INSTALLER = "pip"
    BUILDER_UV = "uv==0.13.9"
    PIP_INDEX_URL = IOPAINT_PIP_INDEX_URL
    NPM_REGISTRY = IOPAINT_NPM_REGISTRY
    DEBIAN_MIRROR = IOPAINT_DEBIAN_MIRROR
    UBUNTU_MIRROR = IOPAINT_UBUNTU_MIRROR
    TORCH_VERSION = "2.1.2"
    TORCHVISION_VERSION = "0.16.2"
    BUILD_REQUIRES = "setuptools>=40.8.0 wheel"
    APP_UID = "1000"
    APP_GID = "1000"
  }
  attest = concat(IOPAINT_PROVENANCE == "auto" ? [] : IOPAINT_PROVENANCE == "false" ? ["type=provenance,disabled=true"] : ["type=provenance,mode=${IOPAINT_PROVENANCE}"], IOPAINT_SBOM == "true" ? [IOPAINT_SBOM_GENERATOR == "" ? "type=sbom" : "type=sbom,generator=${IOPAINT_SBOM_GENERATOR}"] : [])
  secret = IOPAINT_CA_CERT == "" ? [] : ["id=iopaint-ca,src=${IOPAINT_CA_CERT}"]
  labels = {
    "org.opencontainers.image.title" = "IOPaint"
    "org.opencontainers.image.description" = "Image inpainting tool powered by SOTA AI models, built from local source"
    "org.opencontainers.image.source" = "https://github.com/Sanster/IOPaint"
    "org.opencontainers.image.licenses" = "Apache-2.0"
    "org.opencontainers.image.version" = IOPAINT_VERSION
    "org.opencontainers.image.revision" = IOPAINT_REVISION
  }
}

# Variant cpu: CPU image: PyTorch CPU wheels on python:3.10-slim. Size budget 3GB.
target "_cpu" {
  inherits = ["_common"]
  args = {
    BASE_IMAGE = "python:3.10-slim"
    TORCH_INDEX_URL = replace(IOPAINT_TORCH_INDEX_URL, "{build}", "cpu")
    XFORMERS_VERSION = ""
    RUNTIME_PACKAGES = "libsm6 libxext6 libgl1 libglib2.0-0 ffmpeg"
    BUILD_PACKAGES = ""
    EXTRA_PYTHON_PACKAGES = "onnxruntime<=1.19.2 rembg[cpu]"
    DEVICE = "cpu"
    PYTHON_LOCK = "lock-cpu"
  }
  labels = {
    "io.iopaint.variant" = "cpu"
    "io.iopaint.torch" = "2.1.2+cpu"
  }
  platforms = IOPAINT_PLATFORMS == "release" ? ["linux/amd64", "linux/arm64"] : []
  cache-from = cache_from("cpu")
  cache-to = cache_to("cpu")
}

# Variant gpu: CUDA 11.8 image: PyTorch cu118 wheels and xformers. Size budget 5GB compressed.
target "_gpu" {
  inherits = ["_common"]
  args = {
    BASE_IMAGE = "nvidia/cuda:11.8.0-runtime-ubuntu22.04"
    TORCH_INDEX_URL = replace(IOPAINT_TORCH_INDEX_URL, "{build}", "cu118")
    XFORMERS_VERSION = "0.0.23.post1"
    RUNTIME_PACKAGES = "python3.10 libsm6 libxext6 libgl1 libglib2.0-0 ffmpeg"
    BUILD_PACKAGES = "python3.10-venv"
    EXTRA_PYTHON_PACKAGES = "onnxruntime<=1.19.2 rembg[cpu]"
    DEVICE = "cuda"
    PYTHON_LOCK = "lock-gpu"
  }
  labels = {
    "io.iopaint.variant" = "gpu"
    "io.iopaint.torch" = "2.1.2+cu118"
    "io.iopaint.xformers" = "0.0.23.post1"
  }
  platforms = ["linux/amd64"]
  cache-from = cache_from("gpu")
  cache-to = cache_to("gpu")
}

target "docker-metadata-action-cpu" {
  tags = tags("cpu")
}

# IOPaint service, CPU.
target "cpu" {
  inherits = ["_cpu", "docker-metadata-action", "docker-metadata-action-cpu"]
  target = "runtime"
}

target "docker-metadata-action-gpu" {
  tags = tags("gpu")
}

# IOPaint service, CUDA 11.8.
target "gpu" {
  inherits = ["_gpu", "docker-metadata-action", "docker-metadata-action-gpu"]
  target = "runtime"
}

target "docker-metadata-action-cpu-dev" {
  tags = tags("cpu-dev")
}

# Builder with the app installed, the source and a shell, CPU.
target "cpu-dev" {
  inherits = ["_cpu", "docker-metadata-action", "docker-metadata-action-cpu-dev"]
  target = "development"
}

target "docker-metadata-action-gpu-dev" {
  tags = tags("gpu-dev")
}

# Builder with the app installed, the source and a shell, CUDA 11.8.
target "gpu-dev" {
  inherits = ["_gpu", "docker-metadata-action", "docker-metadata-action-gpu-dev"]
  target = "development"
}
