import type { Config } from "../config-types.ts";
import type { Problem } from "../errors.ts";
import { compareReleases, type CompatTable } from "./table.ts";

const TABLE = "generator/compat/table.json";

/**
 * Pure: checks the pinned versions, variants and base images against the compatibility table.
 * Every error names the conflicting values and the value that fixes it. Unlisted releases are
 * errors unless compat.allow_unlisted_versions is set, when they become warnings.
 */
export function checkCompatibility(config: Config, table: CompatTable): { errors: Problem[]; warnings: Problem[] } {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const { versions } = config;
  const variants = Object.entries(config.variants);
  const usesCuda = variants.some(([, v]) => v.torch_build === "cuda");
  const usesXformers = variants.some(([, v]) => v.xformers);
  const unlisted = (problem: Problem) => (config.compat.allow_unlisted_versions ? warnings : errors).push(problem);

  const torch = table.torch[versions.torch];
  if (!torch) {
    unlisted({
      kind: "compat",
      message: `torch ${versions.torch} is not in the compatibility table (it lists ${rangeOf(Object.keys(table.torch))})`,
      location: { path: "versions.torch" },
      hint: `add torch ${versions.torch} with its sources to ${TABLE}, or set compat.allow_unlisted_versions = true to build it unchecked`,
    });
  } else {
    if (torch.torchvision !== versions.torchvision) {
      errors.push({
        kind: "compat",
        message: `torchvision ${versions.torchvision} does not match torch ${versions.torch}`,
        location: { path: "versions.torchvision" },
        hint: `set torchvision = "${torch.torchvision}" (the release built for torch ${versions.torch})`,
      });
    }
    if (!torch.python.includes(versions.python)) {
      const others = Object.entries(table.torch)
        .filter(([, t]) => t.python.includes(versions.python))
        .map(([v]) => v);
      errors.push({
        kind: "compat",
        message: `torch ${versions.torch} supports Python ${torch.python.join(", ")}, not ${versions.python}`,
        location: { path: "versions.python" },
        hint: `set python to one of ${torch.python.join(", ")}${others.length ? `, or use a torch release for Python ${versions.python} (${rangeOf(others)})` : ""}`,
      });
    }
    if (usesCuda && !torch.cuda.includes(versions.cuda)) {
      errors.push({
        kind: "compat",
        message: `torch ${versions.torch} has no ${versions.cuda} build (it is published for ${torch.cuda.join(", ")})`,
        location: { path: "versions.cuda" },
        hint: `set cuda = "${torch.cuda.includes("cu118") ? "cu118" : torch.cuda[torch.cuda.length - 1]}" and a matching base image`,
      });
    }
  }

  if (usesXformers) {
    const matching = torch?.xformers ?? [];
    const suggestion = matching.length
      ? `set xformers = "${matching[matching.length - 1]}" (built for torch ${versions.torch})`
      : `no xformers release is built for torch ${versions.torch}; set xformers = false on the variants that use it`;
    const xformers = versions.xformers ? table.xformers[versions.xformers] : undefined;
    if (!versions.xformers) {
      errors.push({ kind: "compat", message: "a variant sets xformers = true but versions.xformers is missing", location: { path: "versions" }, hint: suggestion });
    } else if (!xformers) {
      unlisted({ kind: "compat", message: `xformers ${versions.xformers} is not in the compatibility table`, location: { path: "versions.xformers" }, hint: `${suggestion}, or add it to ${TABLE}` });
    } else {
      if (xformers.torch !== versions.torch) {
        errors.push({
          kind: "compat",
          message: `xformers ${versions.xformers} is built for torch ${xformers.torch}, not ${versions.torch}; pip would replace torch with ${xformers.torch}`,
          location: { path: "versions.xformers" },
          hint: suggestion,
        });
      } else if (!xformers.cuda.includes(versions.cuda)) {
        errors.push({
          kind: "compat",
          message: `xformers ${versions.xformers} has no ${versions.cuda} build (it is published for ${xformers.cuda.join(", ")})`,
          location: { path: "versions.cuda" },
          hint: `set cuda to one of ${xformers.cuda.join(", ")}`,
        });
      }
    }
  }
  // Per-variant checks come after the versions: a wrong version is the cause, a base image that
  // does not fit it the consequence, and the first line a user reads should name the cause.
  for (const [name, variant] of variants) {
    const path = `variants.${name}`;
    if (variant.device === "cuda" && variant.torch_build !== "cuda") {
      errors.push({
        kind: "compat",
        message: `variant "${name}" runs on device cuda but installs the CPU build of torch`,
        location: { path: `${path}.torch_build` },
        hint: `set torch_build = "cuda", or device = "cpu"`,
      });
    }
    if (variant.device === "cpu" && variant.torch_build === "cuda") {
      errors.push({
        kind: "compat",
        message: `variant "${name}" installs the CUDA build of torch but runs on device cpu: gigabytes of CUDA libraries it never uses`,
        location: { path: `${path}.torch_build` },
        hint: `set torch_build = "cpu", or device = "cuda"`,
      });
    }
    if (variant.xformers && variant.torch_build !== "cuda") {
      errors.push({
        kind: "compat",
        message: `variant "${name}" asks for xformers, which is published only for CUDA builds`,
        location: { path: `${path}.xformers` },
        hint: `set xformers = false, or torch_build = "cuda"`,
      });
    }
    errors.push(...baseImageProblems(name, variant.base_image, variant.torch_build, config, table));
    const duplicate = duplicatedCudaLibraries(variant.base_image, variant.torch_build);
    if (duplicate) warnings.push({ ...duplicate, location: { path: `${path}.base_image` } });
  }
  errors.push(...nodeImageProblems(config.frontend.image));
  return { errors, warnings };
}

function baseImageProblems(name: string, image: string, build: "cpu" | "cuda", config: Config, table: CompatTable): Problem[] {
  const { repository, tag } = splitImage(image);
  const path = `variants.${name}.base_image`;
  const problems: Problem[] = [];
  // Only a CUDA image's tag says its CUDA version (nvidia/cuda:11.8.0-…); python:3.10's does not.
  const isCudaImage = /cuda/.test(repository.split("/").pop() ?? "");
  const torchHasBuild = table.torch[config.versions.torch]?.cuda.includes(config.versions.cuda) ?? true;
  if (build === "cuda" && torchHasBuild) {
    const cuda = table.cuda[config.versions.cuda];
    const tagVersion = isCudaImage ? /^(\d+\.\d+)/.exec(tag)?.[1] : undefined;
    if (cuda && tagVersion !== cuda.version) {
      problems.push({
        kind: "compat",
        message: tagVersion
          ? `base image ${image} ships CUDA ${tagVersion}, but torch's ${config.versions.cuda} build needs CUDA ${cuda.version}`
          : isCudaImage
            ? `cannot tell the CUDA version of base image ${image}: its tag should start with it (as nvidia/cuda tags do)`
            : `base image ${image} has no CUDA runtime, which torch's ${config.versions.cuda} build needs (CUDA ${cuda.version})`,
        location: { path },
        hint: `use base_image = "${cuda.runtimeImage}"`,
      });
    }
  }
  if (repository.split("/").pop() === "python") {
    const tagVersion = /^(\d+\.\d+)(?![\d.])/.exec(tag)?.[1];
    if (tagVersion && tagVersion !== config.versions.python) {
      problems.push({
        kind: "compat",
        message: `base image ${image} has Python ${tagVersion}, but versions.python is ${config.versions.python}`,
        location: { path },
        hint: `use base_image = "python:${config.versions.python}-slim", or set versions.python = "${tagVersion}"`,
      });
    }
  }
  return problems;
}

function nodeImageProblems(image: string): Problem[] {
  const { repository, tag } = splitImage(image);
  const major = Number(/^(\d+)/.exec(tag)?.[1]);
  if (repository.split("/").pop() === "node" && major < 18) {
    return [
      {
        kind: "compat",
        message: `frontend image ${image} has Node ${major}; the web UI's build (vite 5) needs Node 18 or later`,
        location: { path: "frontend.image" },
        hint: `use image = "node:22-bookworm-slim"`,
      },
    ];
  }
  return [];
}

/** "registry:5000/nvidia/cuda:11.8.0-runtime@sha256:…" → repository and tag ("latest" when none). */
/**
 * PyTorch's CUDA wheels (its own index, cu118 among them) carry the CUDA libraries they use
 * (cuBLAS, cuDNN, …) inside torch/lib (PyTorch maintainers, pytorch/pytorch#113972), so an
 * nvidia/cuda runtime, cudnn or devel base holds a second copy. Sizes as users report them for
 * 11.8.0 on Ubuntu 22.04, unpacked: runtime about 2.4 to 2.6 GB, base about 240 MB
 * (../shared/iopaint-facts.md).
 */
function duplicatedCudaLibraries(image: string, torchBuild: string): Omit<Problem, "location"> | undefined {
  const match = /^(?:docker\.io\/)?nvidia\/cuda:([\d.]+)-((?:cudnn\d*-)?(?:runtime|devel))-(.+)$/.exec(image.split("@")[0]);
  if (torchBuild !== "cuda" || !match) return undefined;
  const [, release, flavour, os] = match;
  return {
    kind: "compat",
    message: `${image} duplicates the CUDA libraries that PyTorch's CUDA wheels carry in torch/lib: its ${flavour} libraries are a second copy (for 11.8.0 on Ubuntu 22.04, users report about 2.4 to 2.6 GB unpacked for runtime against about 240 MB for base)`,
    hint: `the torch wheels need only the driver, which the NVIDIA Container Toolkit mounts: base_image = "nvidia/cuda:${release}-base-${os}" (about 240 MB) saves that; see docs/building.md, "The gpu image's base"`,
  };
}

export function splitImage(image: string): { repository: string; tag: string } {
  const withoutDigest = image.split("@")[0];
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  return colon > slash ? { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) } : { repository: withoutDigest, tag: "latest" };
}

function rangeOf(releases: string[]): string {
  const sorted = [...releases].sort(compareReleases);
  return sorted.length > 1 ? `${sorted[0]} to ${sorted[sorted.length - 1]}` : (sorted[0] ?? "none");
}
