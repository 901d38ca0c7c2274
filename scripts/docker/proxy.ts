/**
 * Proxy settings for builds. BuildKit passes HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY and
 * ALL_PROXY (and their lower-case forms) to every RUN step as predefined build args, which the
 * Dockerfile need not declare and which stay out of the image's history and config (Docker's
 * "Predefined ARGs" reference). `docker buildx bake` does not read them from the environment, so
 * the runner passes the environment's as build args.
 */
const NAMES = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"];

/** Every spelling BuildKit knows, upper case first. */
export const PROXY_ARGS: readonly string[] = [...NAMES, ...NAMES.map((name) => name.toLowerCase())];

/** Pure: the proxy settings that `env` has (set and not empty), by arg name. */
export function proxyArgs(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(PROXY_ARGS.flatMap((name) => (env[name] ? [[name, env[name]!]] : [])));
}

/** Pure: proxy build args as `docker buildx bake --set` entries for every target. */
export function proxySets(proxies: Record<string, string>): string[] {
  return Object.entries(proxies).map(([name, value]) => `*.args.${name}=${value}`);
}

/** Pure: a proxy URL for logs, with any user name and password replaced by ***. */
export function withoutCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, "$1***@");
}
