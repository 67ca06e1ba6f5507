/**
 * Loading a kubeconfig the way kubectl finds it. client-node reads the files and produces the auth headers and TLS
 * material (src/kube/transport.ts); this module only decides which kubeconfig and context apply.
 */
import { KubeConfig } from '@kubernetes/client-node';

export { KubeConfig };

export interface KubeConfigSource {
  /** An explicit kubeconfig file (`--kubeconfig`). */
  path?: string;
  /** What named `path` (`--kubeconfig`), for errors; a path alone names itself. */
  pathOrigin?: string;
  /** A context of that file other than its current-context (`--context`). */
  context?: string;
  /** The pod's service account (`KUBERNETES_SERVICE_HOST` + the mounted token). */
  inCluster?: boolean;
}

/**
 * Loads the kubeconfig the way kubectl finds it: an explicit path, else in-cluster when asked, else `KUBECONFIG`,
 * `~/.kube/config`, then the in-cluster service account. Throws when none of those exists (client-node would
 * silently fall back to http://localhost:8080).
 */
export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  if (source.path) {
    const { path } = source;
    const origin = source.pathOrigin ? ` (${source.pathOrigin})` : '';
    readKubeConfig(`the kubeconfig ${path}${origin}`, () => kc.loadFromFile(path));
  } else if (source.inCluster) {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw new Error(
        'in-cluster config requested but KUBERNETES_SERVICE_HOST is not set (not running in a pod?)',
      );
    }
    kc.loadFromCluster();
  } else {
    const found = findDefaultKubeConfig();
    if (!found) {
      throw new Error(
        'no kubeconfig: set KUBECONFIG, create ~/.kube/config, pass --kubeconfig, or run in a pod',
      );
    }
    return withContext(found, source.context);
  }
  return withContext(kc, source.context);
}

/** The kubeconfig kubectl would use, or undefined when there is none (so the caller can start a local one). */
export function findDefaultKubeConfig(): KubeConfig | undefined {
  const kc = new KubeConfig();
  const named = process.env.KUBECONFIG;
  readKubeConfig(
    named ? `the kubeconfig ${named} (KUBECONFIG)` : 'the default kubeconfig ~/.kube/config',
    () => kc.loadFromDefault(),
  );
  const cluster = kc.getCurrentCluster();
  // loadFromDefault's last resort is a made-up cluster named "cluster" at http://localhost:8080.
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080'))
    return undefined;
  return kc;
}

function withContext(kc: KubeConfig, context: string | undefined): KubeConfig {
  if (context) {
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(
        `--context: no context "${context}" in the kubeconfig (it has: ${known.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`kubeconfig: current-context "${kc.getCurrentContext()}" names no cluster`);
  }
  return kc;
}

/** The namespace of the kubeconfig's current context (in a pod: the pod's namespace), or `fallback`. */
export function currentNamespace(kc: KubeConfig, fallback = 'default'): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || fallback;
}

/**
 * Runs client-node's loader, naming the file and what named it when it fails: client-node throws the bare
 * `ENOENT: no such file or directory, open '/x'` or a YAML parser's message, which says neither that the file is a
 * kubeconfig nor which flag or variable chose it.
 */
function readKubeConfig(what: string, load: () => void): void {
  try {
    load();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EACCES'
          ? 'permission denied'
          : e.code === 'EISDIR'
            ? 'is a directory'
            : (e.message ?? String(err)).split('\n')[0];
    throw new Error(`cannot read ${what}: ${reason}`, { cause: err });
  }
}
