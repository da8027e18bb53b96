import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { loadCatalog } from '../../src/catalog/load.ts';
import { loadConfig } from '../../src/config/load.ts';
import {
  asRecord,
  readRepositoryFile,
  readYamlDocuments,
  readYamlFile,
  repositoryRoot,
} from '../support/deploy-files.ts';

/**
 * deploy/k8s against the Kubernetes API schemas (kubernetes-models, generated from the OpenAPI spec of
 * Kubernetes 1.27), then what a rollout relies on: probes on the right endpoints, a grace period that covers the
 * drain, a non-root read-only container that can still write its data, and a nexus.yaml Nexus itself accepts.
 * The schemas check types and required fields but, like the API's OpenAPI spec, not unknown field names; the
 * checks below read every field that matters by its exact name, so a misspelt one fails them.
 */

const directory = 'deploy/k8s';
const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const kustomization = asRecord(readYamlFile(`${directory}/kustomization.yaml`), 'kustomization.yaml');
const resources: Array<Record<string, unknown> & { file: string }> = (
  kustomization.resources as string[]
).flatMap((file) =>
  readYamlDocuments(`${directory}/${file}`).map((document) => ({ file, ...asRecord(document, file) })),
);

// Typed views of the fields the checks read; the schema test below checks their types.
type Probe = { httpGet: { path: string; port: string | number } };
type Container = {
  ports: Array<{ name: string; containerPort: number }>;
  env: Array<{ name: string; value: string }>;
  envFrom: Array<{ secretRef?: { name: string } }>;
  resources: { requests: { cpu: string } };
  readinessProbe: Probe;
  livenessProbe: Probe;
  startupProbe?: Probe;
  lifecycle: { preStop: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  securityContext: Record<string, unknown> & { capabilities: { drop: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
};
type PodSpec = {
  terminationGracePeriodSeconds: number;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: object; configMap?: { name: string } }>;
};

function only(kind: string) {
  const found = resources.filter((resource) => resource.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}
const deployment = only('Deployment') as unknown as {
  metadata: { name: string };
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: PodSpec;
    };
  };
};
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const secret = only('Secret') as unknown as {
  metadata: { name: string };
  stringData: Record<string, string>;
};
const configMap = only('ConfigMap') as unknown as {
  metadata: { name: string };
  data: Record<string, string>;
};
const environmentValue = (name: string) => container.env.find((variable) => variable.name === name)?.value;

/** What the container starts with: the image's ENV, then the Deployment's env and the Secret (envFrom). */
function containerEnvironment(): Record<string, string> {
  const dockerfile = readRepositoryFile('Dockerfile');
  const image = Object.fromEntries(
    ['HOST', 'NEXUS_DATA_DIR'].map((name) => [
      name,
      new RegExp(`\\b${name}=(\\S+)`).exec(dockerfile)?.[1] ?? '',
    ]),
  );
  const fromPod = Object.fromEntries(container.env.map((variable) => [variable.name, variable.value]));
  return { ...image, ...secret.stringData, ...fromPod };
}

/** The configuration Nexus builds in the pod: the ConfigMap's nexus.yaml and the container's environment. */
function podConfig() {
  const configPath = environmentValue('NEXUS_CONFIG');
  assert.ok(configPath, 'NEXUS_CONFIG names the mounted file');
  const fileName = configPath.slice(dirname(configPath).length + 1);
  const mount = container.volumeMounts.find((volumeMount) => volumeMount.mountPath === dirname(configPath));
  const volume = pod.volumes.find((candidate) => candidate.name === mount?.name);
  assert.equal(volume?.configMap?.name, configMap.metadata.name, `${dirname(configPath)} is the ConfigMap`);
  const text = configMap.data[fileName];
  assert.ok(text, `the ConfigMap holds ${fileName}`);
  const file = join(mkdtempSync(join(tmpdir(), 'nexus-k8s-')), fileName);
  writeFileSync(file, text);
  return loadConfig({ env: containerEnvironment(), file, providerIds: [...loadCatalog().providers.keys()] });
}

describe('deploy/k8s', () => {
  it('kustomization.yaml lists every manifest in the folder', () => {
    const manifests = readdirSync(join(repositoryRoot, directory)).filter(
      (name) => name.endsWith('.yaml') && name !== 'kustomization.yaml',
    );
    assert.deepEqual([...(kustomization.resources as string[])].sort(), manifests.sort());
  });

  it('every object is valid against the Kubernetes API schema of its kind', () => {
    for (const { file, ...resource } of resources) {
      const model = models[`${resource.apiVersion}/${resource.kind}`];
      assert.ok(model, `${file}: ${resource.apiVersion} ${resource.kind} is not a kind these manifests use`);
      assert.doesNotThrow(() => new model(resource as never).validate(), `${file}`);
    }
  });

  it('the schema check catches a wrongly typed field', () => {
    const broken = structuredClone(deployment);
    (broken.spec.template.spec as unknown as Record<string, unknown>).terminationGracePeriodSeconds = '30';
    assert.throws(() => new Deployment(broken as never).validate(), /terminationGracePeriodSeconds/);
  });

  it('puts every object in the one namespace', () => {
    const namespace = only('Namespace') as unknown as { metadata: { name: string } };
    assert.equal(kustomization.namespace, namespace.metadata.name);
    for (const resource of resources.filter((item) => item.kind !== 'Namespace')) {
      assert.equal(
        asRecord(resource.metadata, resource.file).namespace,
        namespace.metadata.name,
        resource.file,
      );
    }
  });

  it('runs 2 replicas, ready on GET /ready and alive on GET /health, on the container port', () => {
    assert.equal(deployment.spec.replicas, 2);
    const http = container.ports.find((port) => port.name === 'http');
    assert.equal(http?.containerPort, 3000);
    const target = (probe: Probe | undefined) => [probe?.httpGet.path, probe?.httpGet.port];
    assert.deepEqual(target(container.readinessProbe), ['/ready', 'http']);
    assert.deepEqual(target(container.livenessProbe), ['/health', 'http']);
    if (container.startupProbe !== undefined) assert.equal(container.startupProbe.httpGet.path, '/health');
  });

  it('gives the kubelet longer than preStop + drain (shutdown.timeoutMs) + the 5 s exit guard', () => {
    const preStop = container.lifecycle.preStop;
    const [program, seconds] = preStop.exec?.command ?? [];
    const sleepSeconds =
      preStop.sleep?.seconds ?? (/^(\/bin\/)?sleep$/.test(program ?? '') ? Number(seconds) : 0);
    assert.ok(sleepSeconds > 0, 'preStop sleeps so endpoints drop the pod before SIGTERM');
    const drainSeconds = podConfig().shutdown.timeoutMs / 1000;
    // src/main.ts exits by force 5 s after the drain's own timeout.
    assert.ok(
      pod.terminationGracePeriodSeconds > sleepSeconds + drainSeconds + 5,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} ≤ ${sleepSeconds} + ${drainSeconds} + 5`,
    );
  });

  it('runs as non-root with a read-only root filesystem, writing only to emptyDirs', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.notEqual(pod.securityContext.runAsUser, 0);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    const emptyDirs = new Set(pod.volumes.filter((volume) => volume.emptyDir).map((volume) => volume.name));
    const writable = container.volumeMounts
      .filter((mount) => emptyDirs.has(mount.name))
      .map((mount) => mount.mountPath);
    assert.ok(writable.includes(podConfig().storage.dataDir), 'the SQLite directory is an emptyDir');
    assert.ok(writable.includes('/tmp'));
  });

  it('builds a configuration Nexus accepts from nexus.yaml and the Secret, with a key for the public bind', () => {
    // loadConfig expands ${VAR} from the container's environment (never this test's) and throws on a bad value.
    const config = podConfig();
    assert.equal(config.auth.masterKey, secret.stringData.NEXUS_MASTER_KEY);
    assert.equal(config.server.host ?? '0.0.0.0', '0.0.0.0');
    assert.match(config.database.url ?? '', /^postgres:\/\//);
    assert.match(config.redis.url ?? '', /^redis:\/\//);
    const catalog = loadCatalog();
    for (const [alias, target] of Object.entries(config.aliases)) {
      assert.ok(catalog.providers.has(target.split('/')[0]!), `alias ${alias} → ${target}: unknown provider`);
    }
    assert.equal(container.envFrom[0]?.secretRef?.name, secret.metadata.name);
    for (const name of ['NEXUS_MASTER_KEY', 'METRICS_TOKEN', 'DATABASE_URL', 'REDIS_URL']) {
      assert.ok(name in secret.stringData, `the Secret holds ${name}`);
    }
  });

  it('routes the Service, the PodDisruptionBudget and the autoscaler to the Deployment’s pods', () => {
    const labels = deployment.spec.template.metadata.labels;
    const matches = (selector: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => labels[key] === value);
    assert.ok(matches(deployment.spec.selector.matchLabels));
    const service = only('Service') as unknown as {
      spec: { selector: Record<string, string>; ports: Array<{ targetPort: string }> };
    };
    assert.ok(matches(service.spec.selector));
    assert.ok(
      service.spec.ports.every((port) => container.ports.some((own) => own.name === port.targetPort)),
    );
    const budget = only('PodDisruptionBudget') as unknown as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        maxUnavailable?: number;
        minAvailable?: number;
      };
    };
    assert.ok(matches(budget.spec.selector.matchLabels));
    const autoscaler = only('HorizontalPodAutoscaler') as unknown as {
      spec: {
        scaleTargetRef: { kind: string; name: string };
        minReplicas: number;
        metrics: Array<{ resource?: { name: string; target: { type: string } } }>;
      };
    };
    assert.deepEqual(autoscaler.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    assert.ok(autoscaler.spec.metrics.some((metric) => metric.resource?.name === 'cpu'));
    assert.ok(container.resources.requests.cpu, 'CPU utilization is measured against the request');
    // A budget that can never be met would block every node drain.
    const evictable =
      budget.spec.maxUnavailable ?? autoscaler.spec.minReplicas - (budget.spec.minAvailable ?? 0);
    assert.ok(evictable >= 1 && autoscaler.spec.minReplicas >= 2);
  });

  it('annotates the pods for Prometheus on the container port and /metrics', () => {
    const annotations = deployment.spec.template.metadata.annotations;
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(Number(annotations['prometheus.io/port']), container.ports[0]?.containerPort);
    assert.equal(annotations['prometheus.io/path'], '/metrics');
  });
});
